//! Conversions between lapin's `BasicProperties` and the runtime's
//! [`Properties`].

use lapin::types::ShortString;
use lapin::BasicProperties;
use worker_core::backend::broker::{Headers, Properties, MAX_HEADER_DEPTH};
use worker_core::backend::error::BrokerError;

use crate::headers::{from_field_table, nests_deeper_than, short_string, to_field_table};

/// The properties of a received message, and its defect: headers nested
/// deeper than [`MAX_HEADER_DEPTH`] are left out (the walk that finds out
/// stops at the limit), and the defect says so. Costs no allocation for
/// absent headers and fields.
pub(crate) fn from_basic(props: &BasicProperties) -> (Properties, Option<String>) {
    let text = |s: &Option<ShortString>| s.as_ref().map(|s| s.as_str().to_owned());
    let (headers, defect) = match props.headers() {
        None => (Headers::new(), None),
        Some(t) if nests_deeper_than(t, MAX_HEADER_DEPTH) => (
            Headers::new(),
            Some(format!(
                "its headers nest tables and arrays deeper than {MAX_HEADER_DEPTH} levels"
            )),
        ),
        Some(t) => (from_field_table(t), None),
    };
    let mut properties = Properties::default();
    properties.headers = headers;
    properties.content_type = text(props.content_type());
    properties.message_id = text(props.message_id());
    properties.correlation_id = text(props.correlation_id());
    properties.reply_to = text(props.reply_to());
    properties.expiration = text(props.expiration());
    properties.delivery_mode = *props.delivery_mode();
    properties.priority = *props.priority();
    (properties, defect)
}

/// The properties to publish a message with.
pub(crate) fn to_basic(p: &Properties) -> Result<BasicProperties, BrokerError> {
    let mut props = BasicProperties::default();
    if !p.headers.is_empty() {
        props = props.with_headers(to_field_table(&p.headers)?);
    }
    if let Some(v) = &p.content_type {
        props = props.with_content_type(short_string("content_type", v)?);
    }
    if let Some(v) = &p.message_id {
        props = props.with_message_id(short_string("message_id", v)?);
    }
    if let Some(v) = &p.correlation_id {
        props = props.with_correlation_id(short_string("correlation_id", v)?);
    }
    if let Some(v) = &p.reply_to {
        props = props.with_reply_to(short_string("reply_to", v)?);
    }
    if let Some(v) = &p.expiration {
        props = props.with_expiration(short_string("expiration", v)?);
    }
    if let Some(v) = p.delivery_mode {
        props = props.with_delivery_mode(v);
    }
    if let Some(v) = p.priority {
        props = props.with_priority(v);
    }
    Ok(props)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{AMQPValue, FieldTable};
    use worker_core::backend::broker::AmqpValue;

    #[test]
    fn properties_round_trip() {
        let mut headers = Headers::new();
        headers.insert("x-retry-count".into(), AmqpValue::Int(2));
        let p = Properties::default()
            .with_headers(headers)
            .with_content_type("application/json")
            .with_message_id("m-1")
            .with_correlation_id("c-1")
            .with_reply_to("replies")
            .with_expiration("5000")
            .with_delivery_mode(2)
            .with_priority(7);
        let basic = to_basic(&p).unwrap();
        assert_eq!(basic.delivery_mode(), &Some(2));
        assert_eq!(basic.expiration(), &Some("5000".into()));
        assert_eq!(from_basic(&basic), (p, None));
    }

    #[test]
    fn default_properties_stay_empty() {
        let basic = to_basic(&Properties::default()).unwrap();
        assert_eq!(basic, BasicProperties::default());
        assert!(basic.headers().is_none());
        assert_eq!(from_basic(&basic), (Properties::default(), None));
    }

    /// A header `x` of `levels` containers inside each other, tables and
    /// arrays in turn, around a boolean.
    fn nested(levels: usize) -> FieldTable {
        let mut value = AMQPValue::Boolean(true);
        for level in 0..levels {
            value = if level % 2 == 0 {
                AMQPValue::FieldArray(vec![value].into())
            } else {
                let mut t = FieldTable::default();
                t.insert("t".into(), value);
                AMQPValue::FieldTable(t)
            };
        }
        let mut headers = FieldTable::default();
        headers.insert("x".into(), value);
        headers
    }

    #[test]
    fn headers_nested_to_the_limit_are_read() {
        let basic = BasicProperties::default().with_headers(nested(MAX_HEADER_DEPTH));
        let (p, defect) = from_basic(&basic);
        assert_eq!(defect, None);
        assert!(p.headers.contains_key("x"));
    }

    #[test]
    fn headers_nested_past_the_limit_are_a_defect() {
        let basic = BasicProperties::default()
            .with_headers(nested(MAX_HEADER_DEPTH + 1))
            .with_message_id("m1".into());
        let (p, defect) = from_basic(&basic);
        assert!(p.headers.is_empty(), "{:?}", p.headers);
        assert_eq!(p.message_id.as_deref(), Some("m1"));
        let defect = defect.expect("a defect");
        assert!(defect.contains("deeper than 64 levels"), "{defect}");
    }

    #[test]
    fn the_depth_check_does_not_recurse_past_the_limit() {
        // 200 000 levels would overflow this thread's stack in any
        // recursive walk (the conversion, a clone, and even dropping them),
        // so the table is leaked instead of dropped.
        let headers = std::mem::ManuallyDrop::new(nested(200_000));
        assert!(nests_deeper_than(&headers, MAX_HEADER_DEPTH));
    }

    #[test]
    fn overlong_property_is_refused() {
        let p = Properties::default().with_message_id("m".repeat(300));
        let e = to_basic(&p).unwrap_err();
        assert!(e.message().starts_with("message_id"), "{e}");
    }
}
