//! The version of the broker a connection reached, and what differs
//! between the RabbitMQ versions the runtime supports (see
//! docs/clusters.md, "Supported RabbitMQ versions").

use std::fmt;

/// A RabbitMQ version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BrokerVersion {
    /// Major.
    pub major: u16,
    /// Minor.
    pub minor: u16,
    /// Patch.
    pub patch: u16,
}

impl BrokerVersion {
    /// `major.minor.patch`.
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        BrokerVersion {
            major,
            minor,
            patch,
        }
    }

    /// What the embedded broker models: RabbitMQ 4.3's semantics.
    pub const EMBEDDED: BrokerVersion = BrokerVersion::new(4, 3, 0);

    /// Parses `4.3.6` (or `4.3`, or `4.3.6+1.g12ab`); `None` otherwise.
    pub fn parse(text: &str) -> Option<Self> {
        let core = text
            .trim()
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u16>());
        let major = parts.next()?.ok()?;
        let minor = parts.next()?.ok()?;
        let patch = parts.next().and_then(Result::ok).unwrap_or(0);
        Some(BrokerVersion::new(major, minor, patch))
    }

    fn at_least(self, major: u16, minor: u16) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// Whether `basic.nack` with requeue counts as a delivery attempt of a
    /// quorum queue (before 4.3; `basic.reject` counts on every version).
    pub fn nack_counts_as_delivery(self) -> bool {
        !self.at_least(4, 3)
    }

    /// The delivery limit a quorum queue declared without one gets: 20
    /// since 4.0, none before.
    pub fn default_delivery_limit(self) -> Option<u32> {
        self.at_least(4, 0).then_some(20)
    }

    /// Whether consumers take their own consumer timeout
    /// (`x-consumer-timeout`, 4.3), and classic queues evaluate none.
    pub fn consumer_timeout_per_consumer(self) -> bool {
        self.at_least(4, 3)
    }

    /// The priority levels of a quorum queue, which orders by message
    /// priority without `x-max-priority` (refused there): 32 (0 to 31)
    /// since 4.3, two (0 to 4 normal, 5 and above high, two high messages
    /// delivered for one normal while both wait) in 4.0 to 4.2, none
    /// (publish order) before.
    pub fn quorum_priority_levels(self) -> Option<u8> {
        if self.at_least(4, 3) {
            Some(32)
        } else {
            self.at_least(4, 0).then_some(2)
        }
    }

    /// Whether single active consumer hands a queue to the consumer of the
    /// highest priority (`x-priority`; 4.0 and later).
    pub fn single_active_by_priority(self) -> bool {
        self.at_least(4, 0)
    }
}

impl fmt::Display for BrokerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(
            BrokerVersion::parse("4.3.6"),
            Some(BrokerVersion::new(4, 3, 6))
        );
        assert_eq!(
            BrokerVersion::parse("3.10.8"),
            Some(BrokerVersion::new(3, 10, 8))
        );
        assert_eq!(
            BrokerVersion::parse("4.0"),
            Some(BrokerVersion::new(4, 0, 0))
        );
        assert_eq!(
            BrokerVersion::parse("4.2.0-rc.1"),
            Some(BrokerVersion::new(4, 2, 0))
        );
        assert_eq!(BrokerVersion::parse("garbage"), None);
        let (v310, v40, v43) = (
            BrokerVersion::new(3, 10, 8),
            BrokerVersion::new(4, 0, 5),
            BrokerVersion::new(4, 3, 6),
        );
        assert!(v310.nack_counts_as_delivery() && v40.nack_counts_as_delivery());
        assert!(!v43.nack_counts_as_delivery());
        assert_eq!(v310.default_delivery_limit(), None);
        assert_eq!(v40.default_delivery_limit(), Some(20));
        assert!(v43.consumer_timeout_per_consumer() && !v40.consumer_timeout_per_consumer());
        assert!(v40.single_active_by_priority() && !v310.single_active_by_priority());
    }
}
