//! The `orders` binary: the routes and hooks live in the `orders` library.
//!
//! ```sh
//! cargo run -p orders-example                # embedded broker, HTTP on 127.0.0.1:8080
//! cargo run -p orders-example -- routes      # the route table
//! WORKER_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f cargo run -p orders-example
//! ```

// Links the library, and with it every `#[route]` and hook it declares. A
// crate that nothing references is not linked, and its routes would vanish.
use orders as _;

worker::main!(amqp = "memory://");
