// `main!` generates `fn main`, which would start the worker: expand it in a
// module to check that it compiles, and keep the real `main` empty.
pub mod with_options {
    worker::main!(
        amqp = "memory://",
        prefetch = 1024,
        bulk_flush_interval = "5s",
        shutdown_timeout = "30s",
        http = "off"
    );
}

pub mod defaults {
    worker::main!();
}

pub mod trailing_comma {
    worker::main!(
        http = "127.0.0.1:8080",
        amqp = "amqp://guest:guest@localhost:5672/%2f",
    );
}

fn main() {}
