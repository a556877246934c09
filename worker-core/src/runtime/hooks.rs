//! Running the `#[on_startup]` and `#[on_shutdown]` hooks, in their order.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use crate::app::App;
use crate::call::panic_message;
use crate::error::Error;
use crate::registry::{Hook, HookKind};

/// Runs every startup hook in order; the first failure (error or panic)
/// stops startup with the hook's name and location.
pub(super) async fn startup(hooks: &[&'static Hook], app: &App) -> Result<(), Error> {
    for hook in hooks.iter().filter(|h| h.kind == HookKind::Startup) {
        tracing::debug!(hook = hook.name, "running startup hook");
        run(hook, app).await.map_err(|e| {
            Error::msg(format!(
                "startup hook `{}` ({}) failed: {e:#}",
                hook.name, hook.location
            ))
        })?;
    }
    Ok(())
}

/// Runs every shutdown hook in order; failures are logged, and the next
/// hook still runs.
pub(super) async fn shutdown(hooks: &[&'static Hook], app: &App) {
    for hook in hooks.iter().filter(|h| h.kind == HookKind::Shutdown) {
        if let Err(e) = run(hook, app).await {
            tracing::error!(hook = hook.name, location = %hook.location, error = format!("{e:#}"), "shutdown hook failed");
        }
    }
}

async fn run(hook: &Hook, app: &App) -> Result<(), Error> {
    match AssertUnwindSafe((hook.handler)(app.clone()))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(p) => Err(Error::msg(format!("panicked: {}", panic_message(&*p)))),
    }
}
