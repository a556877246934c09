worker::main!(amqp = "http://guest:secret@localhost:5672/");
