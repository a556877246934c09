worker::main!(
    amqp = "memory://",
    prefetch = 10,
    colour = "red",
    prefetch = 20
);
