worker::main!(prefetch = 0);
