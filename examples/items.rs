//! The classic asyncworker example, ported: consume the `items` queue in
//! batches of 2014 and reject the whole batch if the handler fails.
//!
//! ```sh
//! WORKER_AMQP_URL=memory:// cargo run --example items         # embedded broker
//! cargo run --example items                                  # RabbitMQ on localhost
//! ```
//!
//! Python's asyncworker version:
//!
//! ```python
//! @app.route(["items"], type=RouteTypes.AMQP_RABBITMQ,
//!            options={Options.BULK_SIZE: 2014, Events.ON_EXCEPTION: Actions.REJECT})
//! async def check(msgs): ...
//! ```

use worker::{route, Message};

#[route(amqp, queues = ["items"], bulk_size = 2014, bulk_flush_interval = "5s",
        on_exception = reject, declare = true)]
async fn check(msgs: Vec<Message<serde_json::Value>>) -> Result<(), worker::Error> {
    println!("received a batch of {} items", msgs.len());
    for m in &msgs {
        if !m.body().is_object() {
            return Err(worker::Error::msg("items must be JSON objects"));
        }
    }
    Ok(())
}

// The batch size is min(bulk_size, prefetch): raise the prefetch so that a
// batch can really hold 2014 messages.
worker::main!(prefetch = 2048, http = "off");
