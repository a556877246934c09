//! Startup on the embedded broker: queue declarations and startup hooks
//! wait for a broker that does not answer yet (up to
//! `WORKER_STARTUP_TIMEOUT`), and fail with one clear error past it.

use std::time::Duration;

use worker_core::backend::memory::MemoryBroker;
use worker_core::{App, Error, Message};
use worker_macros::{on_startup, route};

worker_macros::declare_queue!("startup.declared", crate = "worker_core");

#[on_startup(crate = "worker_core")]
async fn declare_outbox(app: App) -> Result<(), Error> {
    app.publisher()?.declare_queue("startup.outbox").await
}

#[route(amqp, crate = "worker_core", queues = ["startup.in"], declare = true)]
async fn st_in(_msgs: Vec<Message>) {}

fn runtime(url: &str, vars: &[(&str, &str)]) -> worker_core::backend::runtime::Runtime {
    let mut all = vec![("WORKER_AMQP_URL".to_owned(), url.to_owned())];
    all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let hook = worker_core::backend::registry::hooks()
        .into_iter()
        .find(|h| h.name == "declare_outbox")
        .unwrap();
    worker_testkit::runtime(&["st_in"], all)
        .hooks(vec![hook])
        .build()
}

#[tokio::test]
async fn a_startup_hook_and_a_declaration_wait_for_a_broker_that_comes_up_5_s_late() {
    let url = "memory://startup-late";
    let broker = MemoryBroker::shared(url);
    broker.set_fail_connect(u32::MAX);
    let runtime = runtime(url, &[]);
    let app = runtime.app().clone();
    let task = tokio::spawn(runtime.run());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!task.is_finished(), "startup waits instead of failing");
    assert!(!app.is_started(), "not started while the broker is down");
    assert!(!broker.queue_exists("startup.outbox"));
    broker.set_fail_connect(0);
    tokio::time::timeout(Duration::from_secs(10), app.started())
        .await
        .expect("started once the broker answers");
    assert!(
        broker.queue_exists("startup.declared"),
        "declare_queue! ran"
    );
    assert!(broker.queue_exists("startup.outbox"), "the hook ran");
    app.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn past_the_startup_timeout_startup_fails_with_one_clear_error() {
    let url = "memory://startup-never";
    MemoryBroker::shared(url).set_fail_connect(u32::MAX);
    let started = std::time::Instant::now();
    let e = runtime(url, &[("WORKER_STARTUP_TIMEOUT", "1s")])
        .run()
        .await
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(
        e.starts_with("cannot declare queue `startup.declared`")
            && e.contains(
                "the broker did not answer within 1s of startup (WORKER_STARTUP_TIMEOUT)"
            ),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}
