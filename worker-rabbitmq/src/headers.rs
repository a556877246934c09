//! Conversions between AMQP field tables and the runtime's [`Headers`].

use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use worker_core::broker::{HeaderValue, Headers};
use worker_core::error::{BrokerError, BrokerErrorKind};

/// Converts received headers. Strings that are not UTF-8 become
/// [`HeaderValue::Bytes`]; decimals become floats; timestamps integers;
/// void values are left out.
pub(crate) fn from_field_table(table: &FieldTable) -> Headers {
    table
        .inner()
        .iter()
        .filter_map(|(k, v)| from_amqp_value(v).map(|v| (k.as_str().to_owned(), v)))
        .collect()
}

/// Whether values in `table` nest (tables and arrays inside each other)
/// deeper than `limit` levels; the top-level table is level 0. The walk
/// stops at `limit`, so its own stack use is bounded whatever the input.
pub(crate) fn nests_deeper_than(table: &FieldTable, limit: usize) -> bool {
    table
        .inner()
        .values()
        .any(|v| value_nests_deeper_than(v, limit))
}

fn value_nests_deeper_than(value: &AMQPValue, limit: usize) -> bool {
    match value {
        AMQPValue::FieldArray(_) | AMQPValue::FieldTable(_) if limit == 0 => true,
        AMQPValue::FieldArray(a) => a
            .as_slice()
            .iter()
            .any(|v| value_nests_deeper_than(v, limit - 1)),
        AMQPValue::FieldTable(t) => nests_deeper_than(t, limit - 1),
        _ => false,
    }
}

fn from_amqp_value(value: &AMQPValue) -> Option<HeaderValue> {
    Some(match value {
        AMQPValue::Boolean(b) => HeaderValue::Bool(*b),
        AMQPValue::ShortShortInt(i) => HeaderValue::Int((*i).into()),
        AMQPValue::ShortShortUInt(i) => HeaderValue::Int((*i).into()),
        AMQPValue::ShortInt(i) => HeaderValue::Int((*i).into()),
        AMQPValue::ShortUInt(i) => HeaderValue::Int((*i).into()),
        AMQPValue::LongInt(i) => HeaderValue::Int((*i).into()),
        AMQPValue::LongUInt(i) => HeaderValue::Int((*i).into()),
        AMQPValue::LongLongInt(i) => HeaderValue::Int(*i),
        // Saturates above i64::MAX (year 292 billion).
        AMQPValue::Timestamp(t) => HeaderValue::Int(i64::try_from(*t).unwrap_or(i64::MAX)),
        AMQPValue::Float(f) => HeaderValue::Float((*f).into()),
        AMQPValue::Double(f) => HeaderValue::Float(*f),
        AMQPValue::DecimalValue(d) => {
            HeaderValue::Float(f64::from(d.value) / 10f64.powi(i32::from(d.scale)))
        }
        AMQPValue::ShortString(s) => HeaderValue::Str(s.as_str().to_owned()),
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(s) => HeaderValue::Str(s.to_owned()),
            Err(_) => HeaderValue::Bytes(s.as_bytes().to_vec()),
        },
        AMQPValue::ByteArray(b) => HeaderValue::Bytes(b.as_slice().to_vec()),
        AMQPValue::FieldArray(a) => {
            HeaderValue::Array(a.as_slice().iter().filter_map(from_amqp_value).collect())
        }
        AMQPValue::FieldTable(t) => HeaderValue::Table(from_field_table(t)),
        AMQPValue::Void => return None,
    })
}

/// Converts headers to publish. Strings are sent as long strings, integers
/// as signed 64-bit (`l`), floats as doubles, bytes as RabbitMQ byte arrays
/// (`x`). Fails only on a header name longer than 255 bytes, which AMQP
/// cannot carry.
pub(crate) fn to_field_table(headers: &Headers) -> Result<FieldTable, BrokerError> {
    let mut table = FieldTable::default();
    for (name, value) in headers {
        table.insert(short_string("header name", name)?, to_amqp_value(value)?);
    }
    Ok(table)
}

fn to_amqp_value(value: &HeaderValue) -> Result<AMQPValue, BrokerError> {
    Ok(match value {
        HeaderValue::Str(s) => AMQPValue::LongString(LongString::from(s.as_bytes())),
        HeaderValue::Int(i) => AMQPValue::LongLongInt(*i),
        HeaderValue::Bool(b) => AMQPValue::Boolean(*b),
        HeaderValue::Float(f) => AMQPValue::Double(*f),
        HeaderValue::Bytes(b) => AMQPValue::ByteArray(b.as_slice().into()),
        HeaderValue::Array(items) => AMQPValue::FieldArray(FieldArray::from(
            items
                .iter()
                .map(to_amqp_value)
                .collect::<Result<Vec<_>, _>>()?,
        )),
        HeaderValue::Table(t) => AMQPValue::FieldTable(to_field_table(t)?),
    })
}

/// An AMQP short string (at most 255 bytes), or a `Refused` error naming
/// what was too long.
pub(crate) fn short_string(what: &str, s: &str) -> Result<ShortString, BrokerError> {
    ShortString::try_new(s).map_err(|_| {
        BrokerError::new(
            BrokerErrorKind::Refused,
            format!(
                "{what} `{}...` is {} bytes long, AMQP allows at most 255",
                s.chars().take(32).collect::<String>(),
                s.len()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::DecimalValue;

    fn sample() -> Headers {
        let mut nested = Headers::new();
        nested.insert("inner".into(), HeaderValue::Int(-3));
        let mut h = Headers::new();
        h.insert("s".into(), "text".into());
        h.insert("i".into(), HeaderValue::Int(i64::MIN));
        h.insert("b".into(), true.into());
        h.insert("f".into(), HeaderValue::Float(1.5));
        h.insert("bytes".into(), HeaderValue::Bytes(vec![0, 159, 255]));
        h.insert(
            "a".into(),
            HeaderValue::Array(vec!["x".into(), HeaderValue::Int(1)]),
        );
        h.insert("t".into(), HeaderValue::Table(nested));
        h
    }

    #[test]
    fn headers_round_trip_through_field_tables() {
        let h = sample();
        let table = to_field_table(&h).unwrap();
        assert_eq!(
            table.inner().get("i"),
            Some(&AMQPValue::LongLongInt(i64::MIN))
        );
        assert_eq!(
            table.inner().get("s"),
            Some(&AMQPValue::LongString("text".into()))
        );
        assert_eq!(from_field_table(&table), h);
    }

    #[test]
    fn every_amqp_value_kind_converts() {
        let mut t = FieldTable::default();
        t.insert("ssi".into(), AMQPValue::ShortShortInt(-1));
        t.insert("ssu".into(), AMQPValue::ShortShortUInt(255));
        t.insert("si".into(), AMQPValue::ShortInt(-2));
        t.insert("su".into(), AMQPValue::ShortUInt(65535));
        t.insert("li".into(), AMQPValue::LongInt(-4));
        t.insert("lu".into(), AMQPValue::LongUInt(u32::MAX));
        t.insert("ts".into(), AMQPValue::Timestamp(1_700_000_000));
        t.insert("fl".into(), AMQPValue::Float(0.5));
        t.insert(
            "dec".into(),
            AMQPValue::DecimalValue(DecimalValue {
                scale: 2,
                value: 125,
            }),
        );
        t.insert("ss".into(), AMQPValue::ShortString("short".into()));
        t.insert("bin".into(), AMQPValue::LongString(vec![0xff, 0xfe].into()));
        t.insert("void".into(), AMQPValue::Void);
        t.insert(
            "arr".into(),
            AMQPValue::FieldArray(vec![AMQPValue::Void, AMQPValue::Boolean(false)].into()),
        );
        let h = from_field_table(&t);
        assert_eq!(h["ssi"], HeaderValue::Int(-1));
        assert_eq!(h["ssu"], HeaderValue::Int(255));
        assert_eq!(h["si"], HeaderValue::Int(-2));
        assert_eq!(h["su"], HeaderValue::Int(65535));
        assert_eq!(h["li"], HeaderValue::Int(-4));
        assert_eq!(h["lu"], HeaderValue::Int(u32::MAX.into()));
        assert_eq!(h["ts"], HeaderValue::Int(1_700_000_000));
        assert_eq!(h["fl"], HeaderValue::Float(0.5));
        assert_eq!(h["dec"], HeaderValue::Float(1.25));
        assert_eq!(h["ss"], HeaderValue::Str("short".into()));
        assert_eq!(h["bin"], HeaderValue::Bytes(vec![0xff, 0xfe]));
        assert!(!h.contains_key("void"));
        assert_eq!(h["arr"], HeaderValue::Array(vec![HeaderValue::Bool(false)]));
    }

    #[test]
    fn empty_headers_make_an_empty_table() {
        assert!(to_field_table(&Headers::new()).unwrap().inner().is_empty());
        assert!(from_field_table(&FieldTable::default()).is_empty());
    }

    #[test]
    fn overlong_header_name_is_refused() {
        let mut h = Headers::new();
        h.insert("n".repeat(256), HeaderValue::Int(1));
        let e = to_field_table(&h).unwrap_err();
        assert_eq!(e.kind, BrokerErrorKind::Refused);
        assert!(e.message.contains("256 bytes"), "{e}");
    }
}
