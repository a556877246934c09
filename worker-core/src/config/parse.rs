//! Reading values of configuration variables: durations, integers, and the
//! error that names the variable and the expected form.

use std::time::Duration;

use super::ConfigError;

/// The error for `variable`.
pub fn invalid(variable: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        message: message.into(),
    }
}

/// The longest duration a variable takes: a year. Longer ones are
/// mistakes, and deadlines that far ahead overflow the clock's arithmetic.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// A duration in seconds (`5`, `0.5`) or humantime (`500ms`, `5s`), at
/// most [`MAX_DURATION`].
pub(crate) fn seconds(variable: &str, v: &str) -> Result<Duration, ConfigError> {
    let parsed = match v.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::try_from_secs_f64(secs).ok(),
        Ok(_) => None,
        Err(_) => humantime::parse_duration(v).ok(),
    };
    match parsed {
        Some(d) if d <= MAX_DURATION => Ok(d),
        Some(_) => Err(invalid(
            variable,
            format!("expected at most a year (`365d`), got `{v}`"),
        )),
        None => Err(invalid(
            variable,
            format!("expected seconds (`5`, `0.5`) or a duration (`500ms`, `5s`), got `{v}`"),
        )),
    }
}

/// A positive duration, or `None` for `off`.
pub fn seconds_or_off(variable: &str, v: &str) -> Result<Option<Duration>, ConfigError> {
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    match seconds(variable, v)? {
        d if d.is_zero() => Err(invalid(
            variable,
            format!("expected a positive duration (`30`, `30s`) or `off`, got `{v}`"),
        )),
        d => Ok(Some(d)),
    }
}

/// An integer within `bound` (its rule from `worker_rules::bounds`).
pub fn bounded(
    variable: &str,
    v: &str,
    bound: &worker_rules::bounds::Bound,
) -> Result<u64, ConfigError> {
    match v.parse::<i128>() {
        Ok(n) if bound.contains(n) => Ok(n as u64),
        _ => Err(invalid(
            variable,
            format!(
                "expected an integer in {}..={}, got `{v}`",
                bound.min, bound.max
            ),
        )),
    }
}

/// The text of the PEM file `path`, which must hold a block whose label
/// ends with `label` (`CERTIFICATE`, `PRIVATE KEY`).
pub fn read_pem(variable: &str, path: &str, label: &str) -> Result<String, ConfigError> {
    let error = |message: String| ConfigError {
        variable: variable.to_owned(),
        message,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| error(format!("cannot read `{path}`: {e}")))?;
    let has_block = text
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&format!("{label}-----")));
    if !has_block {
        return Err(error(format!(
            "`{path}` holds no PEM `{label}` block (expected `-----BEGIN ...{label}-----`)"
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_and_malformed_durations_are_errors_not_panics() {
        for v in ["1e20", "1e300", "400d", "99999999999999999999s"] {
            let e = seconds("WORKER_FLUSH_TIMEOUT", v).unwrap_err();
            assert_eq!(e.variable, "WORKER_FLUSH_TIMEOUT");
            assert!(e.message.contains(v), "{v}: {}", e.message);
        }
        for v in ["-1", "NaN", "inf", "soon", ""] {
            assert!(seconds("WORKER_FLUSH_TIMEOUT", v).is_err(), "{v}");
        }
        assert_eq!(seconds("X", "0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(seconds("X", "365d").unwrap(), MAX_DURATION);
        assert_eq!(seconds_or_off("X", "off").unwrap(), None);
    }
}
