//! A backend outside core: its own record type (a `ServiceRoute`) and its
//! own service, with no change in core. The runtime validates the record,
//! lists it in the route table, hands it to the service, which downcasts
//! it back, and refuses it when no service serves its backend.

use std::any::Any;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use worker_core::backend::cli::route_table;
use worker_core::backend::future::BoxFuture;
use worker_core::backend::registry::{Route, RouteKind, ServiceRoute};
use worker_core::backend::runtime::{Service, ServiceContext};
use worker_core::Error;

/// The record of a `ticks` route: a period.
#[derive(Debug)]
struct TickRoute {
    every_ms: u64,
}

impl ServiceRoute for TickRoute {
    fn backend(&self) -> &'static str {
        "ticks"
    }

    fn describe(&self, _var: &dyn Fn(&str) -> Option<String>) -> (String, String) {
        (format!("every {}ms", self.every_ms), String::new())
    }

    fn problems(&self) -> Vec<String> {
        if self.every_ms == 0 {
            vec!["`every_ms` must be greater than zero".to_owned()]
        } else {
            Vec::new()
        }
    }

    fn consumes(&self) -> bool {
        false
    }
}

static TICKS: TickRoute = TickRoute { every_ms: 5 };
static TICKER: Route = Route::new_service("ticker", module_path!(), &TICKS);
static NEVER: TickRoute = TickRoute { every_ms: 0 };
static BROKEN: Route = Route::new_service("broken", module_path!(), &NEVER);

/// The `ticks` service: counts the ticks of its routes until shutdown.
#[derive(Debug, Default)]
struct TickService {
    ticks: Arc<AtomicU32>,
}

impl Service for TickService {
    fn name(&self) -> &'static str {
        "ticks"
    }

    fn serves(&self) -> &'static [&'static str] {
        &["ticks"]
    }

    fn start(&self, ctx: ServiceContext) -> Result<Option<BoxFuture<'static, ()>>, Error> {
        let mut periods = Vec::new();
        for route in &ctx.routes {
            if let RouteKind::Service(record) = route.kind {
                let any: &dyn Any = record;
                if let Some(t) = any.downcast_ref::<TickRoute>() {
                    periods.push(Duration::from_millis(t.every_ms));
                }
            }
        }
        let ticks = self.ticks.clone();
        Ok(Some(Box::pin(async move {
            let period = periods[0];
            loop {
                tokio::select! {
                    () = ctx.shutdown.cancelled() => return,
                    () = tokio::time::sleep(period) => {
                        ticks.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })))
    }
}

fn runtime(
    routes: &[&'static Route],
    service: Option<Arc<TickService>>,
) -> worker_core::backend::runtime::Runtime {
    let mut builder =
        worker_testkit::runtime(&[], [("WORKER_AMQP_URL", "memory://service-routes")])
            .routes(routes.to_vec());
    if let Some(service) = service {
        builder = builder.service(service);
    }
    builder.build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_outside_core_is_validated_listed_and_served() {
    let table = route_table(&[&TICKER]);
    assert!(table.contains("ticks"), "{table}");
    assert!(table.contains("every 5ms"), "{table}");
    assert!(table.contains("service_routes::ticker"), "{table}");

    let service = Arc::new(TickService::default());
    let runtime = runtime(&[&TICKER], Some(service.clone()));
    runtime.validate().expect("valid");
    let app = runtime.app().clone();
    let task = tokio::spawn(runtime.run());
    worker_testkit::wait_until("ticks", Duration::from_secs(10), || {
        service.ticks.load(Ordering::Relaxed) >= 3
    })
    .await;
    app.shutdown();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the service stops at shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_record_with_problems_or_without_a_service_is_refused() {
    let err = runtime(&[&BROKEN], Some(Arc::default()))
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("route `broken`") && err.contains("`every_ms` must be greater than zero"),
        "{err}"
    );
    let err = runtime(&[&TICKER], None)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("route `ticker`")
            && err.contains("no service of this runtime serves `ticks` routes"),
        "{err}"
    );
}
