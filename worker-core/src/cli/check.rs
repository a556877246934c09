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
        let res = tokio::time::timeout(CHECK_TIMEOUT, conn.check_queues(&queues)).await;
        match res {
            Ok(Ok(())) => println!(
                "ok: connection `{key}` ({}), queues {:?}",
                conn.describe(),
                queues
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
        conn.close().await;
    }
    i32::from(failed)
}

/// The queues to check on each connection an amqp route uses: those it
/// consumes without declaring them.
fn queues_by_connection(runtime: &Runtime) -> BTreeMap<ConnectionKey, Vec<&'static str>> {
    let mut out: BTreeMap<ConnectionKey, Vec<&'static str>> = BTreeMap::new();
    for route in runtime.routes() {
        let (Some(options), Some(key)) = (route.amqp(), ConnectionKey::of(route)) else {
            continue;
        };
        let queues = out.entry(key).or_default();
        if !options.declare {
            queues.extend(options.queues.iter().copied());
        }
    }
    out
}
