//! Conversions between AMQP field tables and the runtime's [`Headers`].

use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use worker_core::backend::broker::{AmqpValue, Headers};
use worker_core::backend::error::{BrokerError, BrokerErrorKind};

/// Converts received headers. Strings that are not UTF-8 become
/// [`AmqpValue::Bytes`]; decimals become floats; timestamps integers;
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

fn from_amqp_value(value: &AMQPValue) -> Option<AmqpValue> {
    Some(match value {
        AMQPValue::Boolean(b) => AmqpValue::Bool(*b),
        AMQPValue::ShortShortInt(i) => AmqpValue::Int((*i).into()),
        AMQPValue::ShortShortUInt(i) => AmqpValue::Int((*i).into()),
        AMQPValue::ShortInt(i) => AmqpValue::Int((*i).into()),
        AMQPValue::ShortUInt(i) => AmqpValue::Int((*i).into()),
        AMQPValue::LongInt(i) => AmqpValue::Int((*i).into()),
        AMQPValue::LongUInt(i) => AmqpValue::Int((*i).into()),
        AMQPValue::LongLongInt(i) => AmqpValue::Int(*i),
        // Saturates above i64::MAX (year 292 billion).
        AMQPValue::Timestamp(t) => AmqpValue::Int(i64::try_from(*t).unwrap_or(i64::MAX)),
        AMQPValue::Float(f) => AmqpValue::Float((*f).into()),
        AMQPValue::Double(f) => AmqpValue::Float(*f),
        AMQPValue::DecimalValue(d) => {
            AmqpValue::Float(f64::from(d.value) / 10f64.powi(i32::from(d.scale)))
        }
        AMQPValue::ShortString(s) => AmqpValue::Str(s.as_str().to_owned()),
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(s) => AmqpValue::Str(s.to_owned()),
            Err(_) => AmqpValue::Bytes(s.as_bytes().to_vec()),
        },
        AMQPValue::ByteArray(b) => AmqpValue::Bytes(b.as_slice().to_vec()),
        AMQPValue::FieldArray(a) => {
            AmqpValue::Array(a.as_slice().iter().filter_map(from_amqp_value).collect())
        }
        AMQPValue::FieldTable(t) => AmqpValue::Table(from_field_table(t)),
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

fn to_amqp_value(value: &AmqpValue) -> Result<AMQPValue, BrokerError> {
    Ok(match value {
        AmqpValue::Str(s) => AMQPValue::LongString(LongString::from(s.as_bytes())),
        AmqpValue::Int(i) => AMQPValue::LongLongInt(*i),
        AmqpValue::Bool(b) => AMQPValue::Boolean(*b),
        AmqpValue::Float(f) => AMQPValue::Double(*f),
        AmqpValue::Bytes(b) => AMQPValue::ByteArray(b.as_slice().into()),
        AmqpValue::Array(items) => AMQPValue::FieldArray(FieldArray::from(
            items
                .iter()
                .map(to_amqp_value)
                .collect::<Result<Vec<_>, _>>()?,
        )),
        AmqpValue::Table(t) => AMQPValue::FieldTable(to_field_table(t)?),
        other => {
            return Err(BrokerError::new(
                BrokerErrorKind::Refused,
                format!("a header value this broker cannot carry: {other:?}"),
            ))
        }
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
        nested.insert("inner".into(), AmqpValue::Int(-3));
        let mut h = Headers::new();
        h.insert("s".into(), "text".into());
        h.insert("i".into(), AmqpValue::Int(i64::MIN));
        h.insert("b".into(), true.into());
        h.insert("f".into(), AmqpValue::Float(1.5));
        h.insert("bytes".into(), AmqpValue::Bytes(vec![0, 159, 255]));
        h.insert(
            "a".into(),
            AmqpValue::Array(vec!["x".into(), AmqpValue::Int(1)]),
        );
        h.insert("t".into(), AmqpValue::Table(nested));
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
        assert_eq!(h["ssi"], AmqpValue::Int(-1));
        assert_eq!(h["ssu"], AmqpValue::Int(255));
        assert_eq!(h["si"], AmqpValue::Int(-2));
        assert_eq!(h["su"], AmqpValue::Int(65535));
        assert_eq!(h["li"], AmqpValue::Int(-4));
        assert_eq!(h["lu"], AmqpValue::Int(u32::MAX.into()));
        assert_eq!(h["ts"], AmqpValue::Int(1_700_000_000));
        assert_eq!(h["fl"], AmqpValue::Float(0.5));
        assert_eq!(h["dec"], AmqpValue::Float(1.25));
        assert_eq!(h["ss"], AmqpValue::Str("short".into()));
        assert_eq!(h["bin"], AmqpValue::Bytes(vec![0xff, 0xfe]));
        assert!(!h.contains_key("void"));
        assert_eq!(h["arr"], AmqpValue::Array(vec![AmqpValue::Bool(false)]));
    }

    #[test]
    fn empty_headers_make_an_empty_table() {
        assert!(to_field_table(&Headers::new()).unwrap().inner().is_empty());
        assert!(from_field_table(&FieldTable::default()).is_empty());
    }

    #[test]
    fn overlong_header_name_is_refused() {
        let mut h = Headers::new();
        h.insert("n".repeat(256), AmqpValue::Int(1));
        let e = to_field_table(&h).unwrap_err();
        assert_eq!(e.kind(), BrokerErrorKind::Refused);
        assert!(e.message().contains("256 bytes"), "{e}");
    }
}
