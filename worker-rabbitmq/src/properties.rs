//! Conversions between lapin's `BasicProperties` and the runtime's
//! [`Properties`].

use lapin::types::ShortString;
use lapin::BasicProperties;
use worker_core::broker::{Headers, Properties};
use worker_core::error::BrokerError;

use crate::headers::{from_field_table, short_string, to_field_table};

/// The properties of a received message. Costs no allocation for absent
/// headers and fields.
pub(crate) fn from_basic(props: &BasicProperties) -> Properties {
    let text = |s: &Option<ShortString>| s.as_ref().map(|s| s.as_str().to_owned());
    Properties {
        headers: props
            .headers()
            .as_ref()
            .map_or_else(Headers::new, from_field_table),
        content_type: text(props.content_type()),
        message_id: text(props.message_id()),
        correlation_id: text(props.correlation_id()),
        reply_to: text(props.reply_to()),
        expiration: text(props.expiration()),
        delivery_mode: *props.delivery_mode(),
        priority: *props.priority(),
    }
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
    use worker_core::broker::HeaderValue;

    #[test]
    fn properties_round_trip() {
        let mut headers = Headers::new();
        headers.insert("x-retry-count".into(), HeaderValue::Int(2));
        let p = Properties {
            headers,
            content_type: Some("application/json".into()),
            message_id: Some("m-1".into()),
            correlation_id: Some("c-1".into()),
            reply_to: Some("replies".into()),
            expiration: Some("5000".into()),
            delivery_mode: Some(2),
            priority: Some(7),
        };
        let basic = to_basic(&p).unwrap();
        assert_eq!(basic.delivery_mode(), &Some(2));
        assert_eq!(basic.expiration(), &Some("5000".into()));
        assert_eq!(from_basic(&basic), p);
    }

    #[test]
    fn default_properties_stay_empty() {
        let basic = to_basic(&Properties::default()).unwrap();
        assert_eq!(basic, BasicProperties::default());
        assert!(basic.headers().is_none());
        assert_eq!(from_basic(&basic), Properties::default());
    }

    #[test]
    fn overlong_property_is_refused() {
        let p = Properties {
            message_id: Some("m".repeat(300)),
            ..Properties::default()
        };
        let e = to_basic(&p).unwrap_err();
        assert!(e.message.starts_with("message_id"), "{e}");
    }
}
