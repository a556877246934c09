//! `check`: validation, then every connection and the queues its routes
//! consume (queues a route declares are created by the route).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::runtime::{ConnectionKey, Runtime};

/// How long one connection's check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Validates, then checks each connection and its routes' queues; prints
/// one line per finding and returns the exit code.
pub async fn check(runtime: &Runtime) -> i32 {
    run(runtime, false).await
}

/// [`check`], then `--drift`: each existing queue's type and arguments
/// against its route's declaration, one line per difference; non-zero
/// when any differs.
pub async fn check_drift(runtime: &Runtime) -> i32 {
    run(runtime, true).await
}

async fn run(runtime: &Runtime, drift: bool) -> i32 {
    match runtime.validate() {
        Ok(warnings) => {
            for w in warnings {
                println!("warning: {w}");
            }
        }
        Err(e) => {
            println!("error: {e}");
            return 1;
        }
    }
    let connections = match runtime.connect() {
        Ok(c) => c,
        Err(e) => {
            println!("error: {e}");
            return 1;
        }
    };
    let mut failed = false;
    for (key, queues) in queues_by_connection(runtime) {
        let conn = &connections[&key];
        let res = tokio::time::timeout(CHECK_TIMEOUT, conn.check_queues(&queues.checked)).await;
        match res {
            Ok(Ok(())) => println!(
                "ok: connection `{key}` ({}), {}",
                conn.describe(),
                queues.describe()
            ),
            Ok(Err(e)) => {
                failed = true;
                println!("error: connection `{key}` ({}): {e}", conn.describe());
            }
            Err(_) => {
                failed = true;
                println!(
                    "error: connection `{key}` ({}): no answer within {CHECK_TIMEOUT:?}",
                    conn.describe()
                );
            }
        }
        for line in node_lines(&conn.probe_nodes().await) {
            println!("{line}");
        }
    }
    for service in runtime.backends().services() {
        for probe in service.probe(runtime.config(), runtime.routes()).await {
            failed |= !probe.ok;
            let level = if probe.ok { "ok" } else { "error" };
            println!("{level}: {}", probe.line);
        }
    }
    if drift {
        let found = super::drift::check(runtime, &connections).await;
        for line in &found.lines {
            println!("{line}");
        }
        failed |= found.failed;
    }
    for conn in connections.values() {
        conn.close().await;
    }
    i32::from(failed)
}

/// One line per node of a connection that lists several: an unreachable
/// node is a warning (the others serve the routes).
fn node_lines(nodes: &[(String, Result<(), crate::error::BrokerError>)]) -> Vec<String> {
    let n = nodes.len();
    nodes
        .iter()
        .enumerate()
        .map(|(i, (node, result))| match result {
            Ok(()) => format!("ok: node {} of {n} `{node}` accepts connections", i + 1),
            Err(e) => format!(
                "warning: node {} of {n} `{node}` is unreachable: {e}",
                i + 1
            ),
        })
        .collect()
}

/// The queues of the amqp routes on one connection.
#[derive(Default)]
struct Queues {
    /// Consumed without `declare = true`: they must exist.
    checked: Vec<&'static str>,
    /// Declared by their route when it starts.
    declared: Vec<&'static str>,
    /// Declared at startup by `declare_queue!`.
    published: Vec<&'static str>,
}

impl Queues {
    /// `queues ["a"] exist; ["b"] declared by the route; ["c"] declared at
    /// startup (declare_queue!)`.
    fn describe(&self) -> String {
        let list = |q: &[&str]| format!("{q:?}");
        let parts: Vec<String> = [
            (&self.checked, "exist"),
            (&self.declared, "declared by the route"),
            (&self.published, "declared at startup (declare_queue!)"),
        ]
        .into_iter()
        .filter(|(q, _)| !q.is_empty())
        .map(|(q, what)| format!("{} {what}", list(q)))
        .collect();
        if parts.is_empty() {
            "no queues".to_owned()
        } else {
            format!("queues {}", parts.join("; "))
        }
    }
}

/// The queues of each connection an amqp route uses: those to check (a
/// route consumes them without declaring them), and those a route declares.
fn queues_by_connection(runtime: &Runtime) -> BTreeMap<ConnectionKey, Queues> {
    let mut out: BTreeMap<ConnectionKey, Queues> = BTreeMap::new();
    for route in runtime.routes() {
        let (Some(options), Some(key)) = (route.amqp(), ConnectionKey::of(route)) else {
            continue;
        };
        let queues = out.entry(key).or_default();
        let list = if options.declare {
            &mut queues.declared
        } else {
            &mut queues.checked
        };
        list.extend(options.shared_queues().iter().copied());
    }
    for d in runtime.declarations() {
        let queues = out
            .entry(ConnectionKey::named(d.connection_name()))
            .or_default();
        queues.published.push(d.queue);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::BrokerError;

    #[test]
    fn each_node_gets_a_line() {
        let lines = node_lines(&[
            ("amqp://u:****@h1:5681/%2f".to_owned(), Ok(())),
            (
                "amqp://u:****@h2:5682/%2f".to_owned(),
                Err(BrokerError::connection("connection refused")),
            ),
        ]);
        assert_eq!(
            lines,
            [
                "ok: node 1 of 2 `amqp://u:****@h1:5681/%2f` accepts connections",
                "warning: node 2 of 2 `amqp://u:****@h2:5682/%2f` is unreachable: connection refused",
            ]
        );
        assert!(node_lines(&[]).is_empty());
    }
}
