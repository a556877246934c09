worker::main!(
    bulk_flush_interval = "soon",
    shutdown_timeout = 30,
    http = "localhost:8080"
);
