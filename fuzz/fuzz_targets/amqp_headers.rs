//! AMQP field tables from arbitrary bytes, converted as a delivery's
//! headers are: the depth check agrees with the conversion, and whatever
//! is read can be published again.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    worker_rabbitmq::__fuzz::headers(data);
});
