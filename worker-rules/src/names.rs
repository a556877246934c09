//! Names: queues, connections, vhosts, SSE events.

/// An AMQP queue name: non-empty, not `amq.`-reserved, at most 255 bytes.
pub fn queue_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("queue name must not be empty".to_owned())
    } else if name.starts_with("amq.") {
        Err(format!(
            "queue name `{name}` uses the `amq.` prefix, which the broker reserves"
        ))
    } else if name.len() > 255 {
        Err(format!("queue name `{name}` is longer than 255 bytes"))
    } else {
        Ok(())
    }
}

/// The name of a configured connection: `a-z`, `0-9` and `_`, since it is
/// also part of a variable name (`WORKER_AMQP_<NAME>_URL`).
pub fn connection_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid connection name `{name}`, expected a non-empty name of `a-z`, `0-9` and `_` (configured as `WORKER_AMQP_<NAME>_URL`)"
        ))
    }
}

/// A vhost name: non-empty (the default vhost is `/`).
pub fn vhost(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("`vhost` must not be empty, the default vhost is `\"/\"`".to_owned())
    } else {
        Ok(())
    }
}

/// An SSE event name of an `events = [..]` filter: non-empty.
pub fn event_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("event name must not be empty".to_owned())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names() {
        assert!(queue_name("items").is_ok());
        assert!(queue_name("").unwrap_err().contains("must not be empty"));
        assert!(queue_name("amq.x").unwrap_err().contains("`amq.` prefix"));
        assert!(queue_name(&"q".repeat(256))
            .unwrap_err()
            .contains("255 bytes"));
        assert!(queue_name(&"q".repeat(255)).is_ok());
    }

    #[test]
    fn connection_and_vhost_names() {
        assert!(connection_name("eu_west1").is_ok());
        for bad in ["", "EU", "eu-west", "a b"] {
            assert!(
                connection_name(bad)
                    .unwrap_err()
                    .contains("WORKER_AMQP_<NAME>_URL"),
                "{bad}"
            );
        }
        assert!(vhost("/").is_ok());
        assert!(vhost("").is_err());
    }
}
