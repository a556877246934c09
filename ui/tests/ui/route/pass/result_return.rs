use worker::{route, Message};

#[derive(Debug)]
struct MyError;

impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("my error")
    }
}

impl std::error::Error for MyError {}

#[route(amqp, queues = ["a"])]
async fn worker_error(_msgs: Vec<Message>) -> Result<(), worker::Error> {
    Ok(())
}

#[route(amqp, queues = ["b"])]
async fn custom_error(_msgs: Vec<Message>) -> Result<(), MyError> {
    Err(MyError)
}

#[route(amqp, queues = ["c"])]
async fn io_error(_msgs: Vec<Message>) -> std::io::Result<()> {
    Ok(())
}

#[route(every, interval = "1s")]
async fn unit_return() -> () {}

fn main() {
    assert_eq!(worker::__private_0_1_0::registry::routes().len(), 4);
}
