//! Waiting for the end: SIGINT or SIGTERM (a second one forces the exit),
//! or `App::shutdown`.

use tokio_util::sync::CancellationToken;

/// Waits until `shutdown` is cancelled, or, with `handle_signals`, until a
/// signal arrives (and cancels `shutdown` then).
pub(super) async fn until_shutdown(handle_signals: bool, shutdown: &CancellationToken) {
    if !handle_signals {
        shutdown.cancelled().await;
        return;
    }
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = signal() => {
            tracing::info!("signal received; shutting down (send it again to force exit)");
            shutdown.cancel();
            tokio::spawn(async {
                signal().await;
                tracing::warn!("second signal: forcing exit");
                std::process::exit(130);
            });
        }
    }
}

async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
