//! RabbitMQ backend on lapin.
