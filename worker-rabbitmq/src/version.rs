//! The broker's version. lapin does not expose the `server-properties` of
//! the `connection.start` the broker sends, so after connecting to a node
//! the broker reads them on a short connection of its own: the AMQP
//! protocol header, the `connection.start` frame, then the socket is
//! closed. Only the top-level `version` entry is read; the other values
//! are skipped by their length, so no nested table is parsed (and no
//! depth of nesting matters). For `amqps://` nodes the version comes from
//! the management API when it is configured, else it stays unknown.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use worker_core::backend::broker::BrokerVersion;

/// How long the probe waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest `connection.start` frame read (RabbitMQ's is about 600 bytes).
const MAX_FRAME: usize = 64 * 1024;

/// The version `host:port` announces in its `connection.start`.
pub(crate) async fn probe(host: &str, port: u16) -> Option<BrokerVersion> {
    let read = async {
        let mut tcp = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        tcp.write_all(b"AMQP\x00\x00\x09\x01").await.ok()?;
        let mut header = [0u8; 7];
        tcp.read_exact(&mut header).await.ok()?;
        let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]) as usize;
        if header[0] != 1 || size > MAX_FRAME {
            return None;
        }
        let mut payload = vec![0u8; size];
        tcp.read_exact(&mut payload).await.ok()?;
        version_of_start(&payload)
    };
    tokio::time::timeout(PROBE_TIMEOUT, read)
        .await
        .ok()
        .flatten()
}

/// The `version` of a `connection.start` method payload.
pub(crate) fn version_of_start(payload: &[u8]) -> Option<BrokerVersion> {
    // class 10, method 10, version-major, version-minor, then the table.
    if payload.get(..4)? != [0, 10, 0, 10] {
        return None;
    }
    let table = payload.get(6..)?;
    let len = u32::from_be_bytes(table.get(..4)?.try_into().ok()?) as usize;
    let mut entries = table.get(4..4 + len)?;
    while !entries.is_empty() {
        let name_len = *entries.first()? as usize;
        let name = entries.get(1..1 + name_len)?;
        let kind = *entries.get(1 + name_len)?;
        let value = entries.get(2 + name_len..)?;
        let size = value_size(kind, value)?;
        if name == b"version" && kind == b'S' {
            let text = std::str::from_utf8(value.get(4..size)?).ok()?;
            return BrokerVersion::parse(text);
        }
        entries = value.get(size..)?;
    }
    None
}

/// The encoded size of a field value of type `kind` at the start of `v`.
fn value_size(kind: u8, v: &[u8]) -> Option<usize> {
    let long = |v: &[u8]| Some(4 + u32::from_be_bytes(v.get(..4)?.try_into().ok()?) as usize);
    Some(match kind {
        b't' | b'b' | b'B' => 1,
        b'u' | b's' | b'U' => 2,
        b'i' | b'I' | b'f' => 4,
        b'l' | b'L' | b'd' | b'T' => 8,
        b'D' => 5,
        b'V' => 0,
        // Long string, table, array, byte array: a u32 length first.
        b'S' | b'F' | b'A' | b'x' => long(v)?,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(entries: &[(&str, u8, Vec<u8>)]) -> Vec<u8> {
        let mut table = Vec::new();
        for (name, kind, value) in entries {
            table.push(name.len() as u8);
            table.extend_from_slice(name.as_bytes());
            table.push(*kind);
            table.extend_from_slice(value);
        }
        let mut payload = vec![0, 10, 0, 10, 0, 9];
        payload.extend_from_slice(&(table.len() as u32).to_be_bytes());
        payload.extend_from_slice(&table);
        payload
    }

    fn long_string(s: &str) -> Vec<u8> {
        let mut v = (s.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(s.as_bytes());
        v
    }

    #[test]
    fn the_version_is_found_after_other_entries_of_any_kind() {
        let mut capabilities = long_string("xxxx");
        capabilities[..4].copy_from_slice(&4u32.to_be_bytes());
        let payload = start(&[
            ("capabilities", b'F', capabilities),
            ("cluster_name", b'S', long_string("rabbit@localhost")),
            ("flag", b't', vec![1]),
            ("version", b'S', long_string("4.3.6")),
        ]);
        assert_eq!(
            version_of_start(&payload),
            Some(BrokerVersion::new(4, 3, 6))
        );
    }

    #[test]
    fn truncated_or_foreign_payloads_give_none() {
        let payload = start(&[("version", b'S', long_string("4.3.6"))]);
        for cut in 0..payload.len() {
            assert_eq!(version_of_start(&payload[..cut]), None, "cut at {cut}");
        }
        assert_eq!(
            version_of_start(&start(&[("other", b'S', long_string("x"))])),
            None
        );
        assert_eq!(version_of_start(&[0, 20, 0, 10]), None);
    }
}
