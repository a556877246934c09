//! Single active consumer (`single_active = true`): whether the route's
//! consumer is the active one or stands by.
//!
//! The broker gives the active consumer the messages and the others none,
//! and RabbitMQ sends a consumer no signal when it becomes active. So a
//! consumer starts each channel as standby, and is active from its first
//! delivery (an active consumer stays active until its channel goes). A
//! [`Watch`] also asks the channel every second
//! ([`Channel::consumer_active`]): the embedded broker knows, RabbitMQ
//! knows through its management API when one is configured, so an active
//! consumer of an idle queue is not reported as standby forever.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::broker::Channel;
use crate::metrics::RouteStats;

/// How often a standby consumer asks whether it became active.
const POLL: Duration = Duration::from_secs(1);

/// The standby state of one channel's consumer; stops its poll when dropped.
pub(super) struct Watch {
    route: &'static str,
    stats: Arc<RouteStats>,
    poll: Option<tokio::task::JoinHandle<()>>,
}

impl Watch {
    /// A consumer that just subscribed: standby when its queues have a
    /// single active consumer, else active (and nothing to watch).
    pub(super) fn start<C: Channel>(
        route: &'static str,
        single_active: bool,
        queues: &'static [&'static str],
        channel: &Arc<C>,
        stats: &Arc<RouteStats>,
    ) -> Self {
        stats.standby.store(single_active, Ordering::Relaxed);
        let poll = single_active.then(|| {
            tracing::info!(
                route,
                "standing by: another consumer of the single-active-consumer queue may be active"
            );
            let channel = channel.clone();
            let stats = stats.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(POLL).await;
                    if !stats.standby.load(Ordering::Relaxed) {
                        return;
                    }
                    for queue in queues {
                        if channel.consumer_active(queue).await == Some(true) {
                            activate(route, &stats, "the broker names it active");
                            return;
                        }
                    }
                }
            })
        });
        Watch {
            route,
            stats: stats.clone(),
            poll,
        }
    }

    /// A delivery arrived: the consumer is active (cheap when it already was).
    pub(super) fn delivered(&self) {
        if self.poll.is_some() && self.stats.standby.load(Ordering::Relaxed) {
            activate(self.route, &self.stats, "its first delivery arrived");
        }
    }
}

fn activate(route: &'static str, stats: &RouteStats, why: &str) {
    if stats.standby.swap(false, Ordering::Relaxed) {
        tracing::info!(
            route,
            why,
            "active consumer of the single-active-consumer queue"
        );
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(poll) = self.poll.take() {
            poll.abort();
        }
        self.stats.standby.store(false, Ordering::Relaxed);
    }
}
