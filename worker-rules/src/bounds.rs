//! The integer bounds of options.

/// The accepted range of an integer option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The option, as written in the attribute.
    pub option: &'static str,
    /// Smallest accepted value.
    pub min: i128,
    /// Largest accepted value.
    pub max: i128,
}

impl Bound {
    /// Whether `value` is accepted.
    pub const fn contains(&self, value: i128) -> bool {
        value >= self.min && value <= self.max
    }

    /// `value` if accepted, else the error naming the range.
    pub fn check(&self, value: i128) -> Result<i128, String> {
        if self.contains(value) {
            Ok(value)
        } else {
            Err(self.message(&value.to_string()))
        }
    }

    /// The error for a value written as `written`.
    pub fn message(&self, written: &str) -> String {
        let range = if self.max >= u32::MAX as i128 {
            format!("at least {}", self.min)
        } else {
            format!("in {}..={}", self.min, self.max)
        };
        format!("`{}` must be {range}, got `{written}`", self.option)
    }
}

/// `bulk_size` of `amqp` and `sse` routes.
pub const BULK_SIZE: Bound = Bound {
    option: "bulk_size",
    min: 1,
    max: 65535,
};
/// `prefetch` of `amqp` routes and `main!`.
pub const PREFETCH: Bound = Bound {
    option: "prefetch",
    min: 1,
    max: 65535,
};
/// `max_concurrency` of `amqp` and `every` routes.
pub const MAX_CONCURRENCY: Bound = Bound {
    option: "max_concurrency",
    min: 1,
    max: u32::MAX as i128,
};
/// `consumer_priority` of `amqp` routes (RabbitMQ's `x-priority`, a
/// signed 32-bit integer; higher is served first).
pub const CONSUMER_PRIORITY: Bound = Bound {
    option: "consumer_priority",
    min: i32::MIN as i128,
    max: i32::MAX as i128,
};
/// `max_priority` of `amqp` routes: a classic queue's `x-max-priority`,
/// the number of priority levels above 0 (RabbitMQ accepts 1 to 255 and
/// advises at most 10).
pub const MAX_PRIORITY: Bound = Bound {
    option: "max_priority",
    min: 1,
    max: 255,
};
/// `max_retries` of `amqp` routes.
pub const MAX_RETRIES: Bound = Bound {
    option: "max_retries",
    min: 0,
    max: u32::MAX as i128,
};
/// `delivery_limit` of `amqp` routes: returns to a quorum queue before the
/// broker dead-letters (or drops) the message.
pub const DELIVERY_LIMIT: Bound = Bound {
    option: "delivery_limit",
    min: 1,
    max: i32::MAX as i128,
};
/// `order` of hooks.
pub const ORDER: Bound = Bound {
    option: "order",
    min: i32::MIN as i128,
    max: i32::MAX as i128,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_range() {
        assert_eq!(BULK_SIZE.check(65535), Ok(65535));
        assert_eq!(
            BULK_SIZE.check(65536),
            Err("`bulk_size` must be in 1..=65535, got `65536`".to_owned())
        );
        assert_eq!(
            MAX_CONCURRENCY.check(0),
            Err("`max_concurrency` must be at least 1, got `0`".to_owned())
        );
        assert_eq!(MAX_RETRIES.check(0), Ok(0));
        assert!(!PREFETCH.contains(-1));
    }
}
