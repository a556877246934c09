//! The `orders` binary's command line, on the embedded broker.

use std::process::Command;

fn orders(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(args)
        .env("WORKER_AMQP_URL", "memory://")
        .env_remove("WORKER_LOG")
        .output()
        .expect("run the orders binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn routes_lists_what_the_library_declares() {
    let (code, table) = orders(&["routes"]);
    assert_eq!(code, 0, "{table}");
    for row in [
        "orders::accept",
        "orders::report",
        "GET /orders/{id}",
        "POST /orders",
    ] {
        assert!(table.contains(row), "`{row}` missing:\n{table}");
    }
}

#[test]
fn check_says_which_queues_the_routes_and_declare_queue_declare() {
    let (code, text) = orders(&["check"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        text.trim(),
        r#"ok: connection `default` (memory://), queues ["orders"] declared by the route; ["order_events"] declared at startup (declare_queue!)"#
    );
}
