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

/// A duration in seconds (`5`, `0.5`) or humantime (`500ms`, `5s`).
pub fn seconds(variable: &str, v: &str) -> Result<Duration, ConfigError> {
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
    } else if let Ok(d) = humantime::parse_duration(v) {
        return Ok(d);
    }
    Err(invalid(
        variable,
        format!("expected seconds (`5`, `0.5`) or a duration (`500ms`, `5s`), got `{v}`"),
    ))
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
