worker::main!(
    flush_timeout = "soon",
    shutdown_timeout = 30,
    http = "localhost:8080"
);
