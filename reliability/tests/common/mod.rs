//! The harness of the fault-injection suite: a vhost per scenario on the
//! real RabbitMQ, publishing and draining with a raw lapin client, worker
//! processes (the `fault-worker` binary) with their call records, and the
//! history checker's verdict on every message (`worker_reliability::history`).

// Included by several test or bench programs (`mod common;`): `pub` here
// shares items between files of one program, it is not an API.
#![allow(unreachable_pub)]
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
#[allow(unused_imports)]
pub use worker_reliability::history::{Accounting, Call, History, Verdict};

/// The scenarios share one broker and some of them restart it: they run
/// one at a time.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `rabbitmqctl` against the suite's node; panics on failure.
pub use worker_testkit::rabbitmqctl;

/// Polls `done` every 20 ms until it holds; panics with `what` (and
/// `context()`) after `limit`. A failure bound, not a measurement.
pub async fn wait_until(
    what: &str,
    limit: Duration,
    mut context: impl FnMut() -> String,
    mut done: impl AsyncFnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the management API of the suite's node (the plugin starts
/// after the node; `scripts/test` enables it).
pub async fn management_api() {
    wait_until(
        "the management API",
        Duration::from_secs(60),
        String::new,
        async || {
            worker_testkit::http_client()
                .get("http://127.0.0.1:15672/api/overview")
                .basic_auth("guest", Some("guest"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        },
    )
    .await;
}

/// A freshly created vhost: the scenario's own queues, nothing left over
/// from an earlier run. On the suite's node, or on the 3-node cluster of
/// `scripts/rabbitmq cluster start`.
pub struct Vhost {
    pub name: String,
    /// `amqp://user:pass@host:port` of each node, without the vhost.
    nodes: Vec<String>,
    /// The node `rabbitmqctl` talks to.
    ctl: Ctl,
}

/// Where a vhost's `rabbitmqctl` calls go.
enum Ctl {
    /// The suite's node.
    Suite,
    /// A node of the loopback cluster, by name.
    Node(String),
    /// Node 1..=3 of the namespaced cluster (`scripts/rabbitmq net ctl N`).
    Net(u8),
}

/// The AMQP ports of the cluster's nodes c1..c3 (`scripts/rabbitmq cluster`).
pub const CLUSTER_PORTS: [u16; 3] = [5681, 5682, 5683];

const RABBITMQ_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/rabbitmq");
const NETNS_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/netns");

/// The addresses of the namespaced cluster's nodes n1..n3 (`scripts/netns`).
pub const NET_NODES: [&str; 3] = ["198.18.0.11", "198.18.0.12", "198.18.0.13"];

/// `scripts/netns args...`; panics when it fails.
pub fn netns(args: &[&str]) -> String {
    stdout_of(
        Command::new(NETNS_SCRIPT).args(args),
        &format!("scripts/netns {args:?}"),
    )
}

/// Runs the calling test inside `scripts/netns` host `host` (from where
/// the namespaced cluster is reachable): outside it, runs this test
/// binary's test `test` there, with its output shown, asserts that it
/// passed and returns `false`; inside, returns `true` and the test goes on.
pub fn in_host(host: &str, test: &str) -> bool {
    if std::env::var("WORKER_FAULT_HOST").is_ok_and(|h| h == host) {
        return true;
    }
    let status = Command::new(NETNS_SCRIPT)
        .args(["exec", host])
        .arg(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("WORKER_FAULT_HOST", host)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {test} in host {host}: {e}"));
    assert!(status.success(), "{test}, run in host {host}: {status}");
    false
}

/// Heals every link of `scripts/netns` when dropped: after a scenario,
/// passed or failed.
pub struct HealAll;

impl Drop for HealAll {
    fn drop(&mut self) {
        let _ = Command::new(NETNS_SCRIPT).arg("heal-all").status();
    }
}

/// Runs `cmd`; its standard output, or a panic naming `what` with
/// everything it printed.
fn stdout_of(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `scripts/rabbitmq args...`; panics when it fails.
pub fn rabbitmq_script(args: &[&str]) -> String {
    stdout_of(
        Command::new(RABBITMQ_SCRIPT).args(args),
        &format!("scripts/rabbitmq {args:?}"),
    )
}

/// `rabbitmqctl -n <node> args...` (through `scripts/rabbitmq ctl`, of
/// the version in `RABBITMQ_VERSION`); panics when it fails.
pub fn node_ctl(node: &str, args: &[&str]) -> String {
    stdout_of(
        Command::new(RABBITMQ_SCRIPT)
            .args(["ctl", "-n", node])
            .args(args),
        &format!("rabbitmqctl -n {node} {args:?}"),
    )
}

impl Vhost {
    /// Deletes (if present) and re-creates vhost `fault_<scenario>`,
    /// readable and writable by `guest`.
    pub fn fresh(scenario: &str) -> Vhost {
        Vhost::create(
            scenario,
            vec!["amqp://guest:guest@127.0.0.1:5672".into()],
            Ctl::Suite,
        )
    }

    /// The vhost on the 3-node cluster, which must be running (the test
    /// command starts it with `scripts/rabbitmq cluster start`).
    pub fn fresh_on_cluster(scenario: &str) -> Vhost {
        let status = Command::new(RABBITMQ_SCRIPT)
            .args(["cluster", "status"])
            .output()
            .expect("run scripts/rabbitmq");
        assert!(
            status.status.success(),
            "the 3-node cluster is not running: run `scripts/rabbitmq cluster start` (scripts/test does): {}",
            String::from_utf8_lossy(&status.stdout)
        );
        let nodes = CLUSTER_PORTS
            .iter()
            .map(|p| format!("amqp://guest:guest@127.0.0.1:{p}"))
            .collect();
        Vhost::create(scenario, nodes, Ctl::Node("c1@localhost".into()))
    }

    /// The vhost on the namespaced 3-node cluster of `scripts/rabbitmq net
    /// start` (the test command starts it), whose nodes are reachable only
    /// from the hosts of `scripts/netns`: the calling test runs in one
    /// ([`in_host`]).
    pub fn fresh_on_net(scenario: &str) -> Vhost {
        let nodes = NET_NODES
            .iter()
            .map(|a| format!("amqp://guest:guest@{a}:5672"))
            .collect();
        Vhost::create(scenario, nodes, Ctl::Net(1))
    }

    fn create(scenario: &str, nodes: Vec<String>, ctl: Ctl) -> Vhost {
        let vh = Vhost {
            name: format!("fault_{scenario}"),
            nodes,
            ctl,
        };
        let existing = vh.ctl(&["list_vhosts", "--quiet", "--no-table-headers"]);
        if existing.lines().any(|l| l.trim() == vh.name) {
            vh.ctl(&["delete_vhost", &vh.name]);
        }
        vh.ctl(&["add_vhost", &vh.name]);
        vh.ctl(&["set_permissions", "-p", &vh.name, "guest", ".*", ".*", ".*"]);
        vh
    }

    /// Sends later `rabbitmqctl` calls to cluster node `node` (when the
    /// current one is about to be killed).
    pub fn use_ctl_node(&mut self, node: &str) {
        self.ctl = Ctl::Node(node.to_owned());
    }

    /// Sends later `rabbitmqctl` calls to node `n` (1..=3) of the
    /// namespaced cluster.
    pub fn use_net_ctl_node(&mut self, n: u8) {
        self.ctl = Ctl::Net(n);
    }

    /// `rabbitmqctl` against the vhost's broker (any node of a cluster
    /// answers for all of it).
    pub fn ctl(&self, args: &[&str]) -> String {
        match &self.ctl {
            Ctl::Node(node) => node_ctl(node, args),
            Ctl::Suite => rabbitmqctl(args),
            Ctl::Net(n) => {
                let n = n.to_string();
                let mut all = vec!["net", "ctl", n.as_str()];
                all.extend_from_slice(args);
                rabbitmq_script(&all)
            }
        }
    }

    /// The AMQP URL of the vhost: one URL, or a comma-separated list of
    /// the cluster's nodes.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("{n}/{}", self.name))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A connection to the first node that accepts one.
    pub async fn connect(&self) -> Connection {
        let mut errors = Vec::new();
        for node in &self.nodes {
            let props = ConnectionProperties::default().with_connection_name("fault-suite".into());
            match Connection::connect(&format!("{node}/{}", self.name), props).await {
                Ok(c) => return c,
                Err(e) => errors.push(format!("{node}: {e}")),
            }
        }
        panic!("cannot reach RabbitMQ (run `scripts/rabbitmq start`): {errors:?}")
    }

    /// Declares durable quorum queues (as `queue_type = quorum` with
    /// `declare = true` does).
    pub async fn declare_quorum(&self, queues: &[&str]) {
        let conn = self.connect().await;
        let ch = conn.create_channel().await.unwrap();
        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        for q in queues {
            let options = QueueDeclareOptions {
                durable: true,
                ..Default::default()
            };
            ch.queue_declare((*q).into(), options, args.clone())
                .await
                .unwrap();
        }
        let _ = conn.close(200, "done".into()).await;
    }

    /// Declares durable queues without arguments (as the worker's
    /// `declare = true` does).
    pub async fn declare(&self, queues: &[&str]) {
        let conn = self.connect().await;
        let ch = conn.create_channel().await.unwrap();
        for q in queues {
            ch.queue_declare(
                (*q).into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        }
        let _ = conn.close(200, "done".into()).await;
    }

    pub async fn delete_queue(&self, queue: &str) {
        let conn = self.connect().await;
        let ch = conn.create_channel().await.unwrap();
        ch.queue_delete(queue.into(), QueueDeleteOptions::default())
            .await
            .unwrap();
        let _ = conn.close(200, "done".into()).await;
    }

    /// Publishes `{"id": n}` for every id, waiting for every confirm (a
    /// confirmed persistent message survives a broker restart).
    pub async fn publish_ids(
        &self,
        queue: &str,
        ids: impl IntoIterator<Item = u64>,
        persistent: bool,
    ) {
        self.publish_jobs(
            queue,
            ids.into_iter()
                .map(|id| (format!(r#"{{"id":{id}}}"#).into_bytes(), None)),
            persistent,
        )
        .await;
    }

    /// Publishes `{"id": N}` bodies to `exchange` with `routing_key`
    /// (transient), confirmed.
    pub async fn publish_ids_to(
        &self,
        exchange: &str,
        routing_key: &str,
        ids: impl IntoIterator<Item = u64>,
    ) {
        let bodies = ids
            .into_iter()
            .map(|id| (format!(r#"{{"id":{id}}}"#).into_bytes(), None));
        self.publish_via(exchange, routing_key, bodies, false).await;
    }

    /// Publishes raw bodies, each with an optional `message_id`.
    pub async fn publish_jobs(
        &self,
        queue: &str,
        bodies: impl IntoIterator<Item = (Vec<u8>, Option<String>)>,
        persistent: bool,
    ) {
        self.publish_via("", queue, bodies, persistent).await;
    }

    /// Publishes raw bodies to `exchange`, confirmed.
    async fn publish_via(
        &self,
        exchange: &str,
        routing_key: &str,
        bodies: impl IntoIterator<Item = (Vec<u8>, Option<String>)>,
        persistent: bool,
    ) {
        let conn = self.connect().await;
        let ch = conn.create_channel().await.unwrap();
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let mut pending = Vec::with_capacity(2000);
        for (body, message_id) in bodies {
            let mut props =
                BasicProperties::default().with_delivery_mode(if persistent { 2 } else { 1 });
            if let Some(id) = message_id {
                props = props.with_message_id(id.into());
            }
            let confirm = ch
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions::default(),
                    &body,
                    props,
                )
                .await
                .unwrap();
            pending.push(confirm);
            if pending.len() == 2000 {
                for c in pending.drain(..) {
                    assert!(c.await.unwrap().is_ack(), "publish not confirmed");
                }
            }
        }
        for c in pending {
            assert!(c.await.unwrap().is_ack(), "publish not confirmed");
        }
        let _ = conn.close(200, "done".into()).await;
    }

    /// Publishes `payload` to `queue` through the management API, with
    /// `headers` (JSON text: objects become AMQP tables, lists arrays). The
    /// broker builds the message itself, so the headers may be as deep as
    /// the JSON; panics unless it was routed.
    pub async fn publish_by_management(&self, queue: &str, headers: &str, payload: &str) {
        let body = format!(
            r#"{{"properties":{{"headers":{headers}}},"routing_key":{},"payload":{},"payload_encoding":"string"}}"#,
            serde_json::Value::from(queue),
            serde_json::Value::from(payload),
        );
        let reply = worker_testkit::http_client()
            .post(format!(
                "http://127.0.0.1:15672/api/exchanges/{}/amq.default/publish",
                self.name
            ))
            .basic_auth("guest", Some("guest"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the management API answers");
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        assert!(
            status.is_success() && text.contains(r#""routed":true"#),
            "publish to `{queue}` through the management API: {status} {text}"
        );
    }

    /// Ready messages in `queue` (unacked ones are not counted).
    pub async fn ready(&self, queue: &str) -> u32 {
        let conn = self.connect().await;
        let ch = conn.create_channel().await.unwrap();
        let q = ch
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let _ = conn.close(200, "done".into()).await;
        q.message_count()
    }

    /// Takes every ready message out of `queue` (consumed and acked).
    pub async fn drain(&self, queue: &str) -> Vec<Drained> {
        let expected = self.ready(queue).await as usize;
        let mut out = Vec::with_capacity(expected);
        if expected == 0 {
            return out;
        }
        let conn = self.connect().await;
        let ch = conn.create_channel().await.unwrap();
        ch.basic_qos(1000, BasicQosOptions::default())
            .await
            .unwrap();
        let mut consumer = ch
            .basic_consume(
                queue.into(),
                "fault-suite-drain".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        while out.len() < expected {
            let d = tokio::time::timeout(Duration::from_secs(10), consumer.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("draining `{queue}`: {} of {expected} after 10 s", out.len())
                })
                .expect("consumer ended")
                .unwrap();
            let header = |key: &str| -> Option<String> {
                d.properties
                    .headers()
                    .as_ref()?
                    .inner()
                    .get(&ShortString::from(key))
                    .and_then(|v| match v {
                        AMQPValue::LongString(s) => Some(s.to_string()),
                        AMQPValue::ShortString(s) => Some(s.to_string()),
                        _ => None,
                    })
            };
            out.push(Drained {
                id: job_id(&d.data),
                message_id: d.properties.message_id().as_ref().map(|s| s.to_string()),
                death_reason: header("x-death-reason"),
                len: d.data.len(),
            });
        }
        let _ = conn.close(200, "done".into()).await;
        out
    }

    /// Removes the vhost and everything in it.
    pub fn delete(self) {
        self.ctl(&["delete_vhost", &self.name]);
    }
}

/// The id of a `{"id": n, ...}` body.
pub fn job_id(body: &[u8]) -> Option<u64> {
    let v = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    let id = v.get("id")?;
    // A dead-lettered sse event carries its event id, a string.
    id.as_u64().or_else(|| id.as_str()?.parse().ok())
}

/// A message taken out of a queue by [`Vhost::drain`].
#[derive(Debug, Clone)]
pub struct Drained {
    pub id: Option<u64>,
    pub message_id: Option<String>,
    pub death_reason: Option<String>,
    pub len: usize,
}

pub fn ids(drained: &[Drained]) -> Vec<u64> {
    drained.iter().filter_map(|d| d.id).collect()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `fault-worker` process.
pub struct WorkerProc {
    pub name: String,
    child: Child,
    pub log: HandledLog,
    pub output: PathBuf,
    pub http: String,
    exited: Option<ExitStatus>,
}

impl WorkerProc {
    /// Starts `fault-worker` on `vhost` with extra environment.
    pub fn spawn(name: &str, vhost: &Vhost, env: &[(&str, &str)]) -> WorkerProc {
        Self::spawn_bin(env!("CARGO_BIN_EXE_fault-worker"), name, vhost, env)
    }

    /// Starts the worker binary `bin` on `vhost` with extra environment.
    pub fn spawn_bin(bin: &str, name: &str, vhost: &Vhost, env: &[(&str, &str)]) -> WorkerProc {
        Self::spawn_command(Command::new(bin), bin, name, vhost, env)
    }

    /// Starts `fault-worker` in `scripts/netns` host `host` (its HTTP
    /// address is on that host's loopback).
    pub fn spawn_in(host: &str, name: &str, vhost: &Vhost, env: &[(&str, &str)]) -> WorkerProc {
        let bin = env!("CARGO_BIN_EXE_fault-worker");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &format!("wk-{host}"), bin]);
        Self::spawn_command(cmd, bin, name, vhost, env)
    }

    fn spawn_command(
        mut cmd: Command,
        bin: &str,
        name: &str,
        vhost: &Vhost,
        env: &[(&str, &str)],
    ) -> WorkerProc {
        let dir = std::env::temp_dir().join("worker-fault-suite");
        std::fs::create_dir_all(&dir).unwrap();
        let log_path = dir.join(format!("{}-{name}.handled", vhost.name));
        let output = dir.join(format!("{}-{name}.out", vhost.name));
        let _ = std::fs::remove_file(&log_path);
        let port = free_port();
        let out = File::create(&output).unwrap();
        let child = cmd
            .env("WORKER_AMQP_URL", vhost.url())
            .env("WORKER_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("WORKER_LOG", "info")
            .env("FAULT_LOG", &log_path)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        WorkerProc {
            name: name.to_owned(),
            child,
            log: HandledLog::new(log_path, name),
            output,
            http: format!("http://127.0.0.1:{port}"),
            exited: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's output (logs), for failure messages and assertions.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// The last lines of its output.
    pub fn tail(&self) -> String {
        tail_of(&self.name, &self.output)
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        if self.exited.is_some() {
            return false;
        }
        match self.child.try_wait().unwrap() {
            Some(status) => {
                self.exited = Some(status);
                false
            }
            None => true,
        }
    }

    /// Waits for the process to exit, at most `limit`; `None` if it did not.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if !self.running() {
                return self.exited;
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then asserts a clean exit (status 0) within `limit`.
    pub async fn stop(&mut self, limit: Duration) -> Duration {
        let started = Instant::now();
        self.signal("TERM");
        let status = self.wait_exit(limit).await;
        assert!(
            status.is_some_and(|s| s.success()),
            "worker `{}` after SIGTERM: {status:?} within {limit:?}\n{}",
            self.name,
            self.tail()
        );
        started.elapsed()
    }

    /// GET `path` on the worker's HTTP server: `(status, body)`, or `None`
    /// when it does not answer.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let res = worker_testkit::http_client()
            .get(format!("{}{path}", self.http))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = res.status().as_u16();
        Some((status, res.text().await.ok()?))
    }

    /// Resident set size in KiB, from `/proc`.
    pub fn rss_kib(&self) -> u64 {
        worker_testkit::rss_kib(self.pid())
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last lines of a worker's output file.
pub fn tail_of(name: &str, output: &std::path::Path) -> String {
    let text = std::fs::read_to_string(output).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(40);
    format!(
        "--- last lines of worker `{name}` ({}):\n{}",
        output.display(),
        lines[from..].join("\n")
    )
}

/// The call records of one worker (`worker_reliability::history`), read
/// incrementally.
pub struct HandledLog {
    path: PathBuf,
    process: String,
    offset: u64,
    partial: String,
    /// `(route, id)` -> times handled.
    pub counts: BTreeMap<(String, u64), u32>,
    /// Distinct ids per route.
    distinct: BTreeMap<String, usize>,
    /// Every call recorded so far, in the order written.
    pub calls: Vec<Call>,
    /// Ids handled so far, repeats included.
    pub handlings: u64,
}

impl HandledLog {
    fn new(path: PathBuf, process: &str) -> HandledLog {
        HandledLog {
            path,
            process: process.to_owned(),
            offset: 0,
            partial: String::new(),
            counts: BTreeMap::new(),
            distinct: BTreeMap::new(),
            calls: Vec::new(),
            handlings: 0,
        }
    }

    /// Reads what was appended since the last call.
    pub fn refresh(&mut self) {
        let Ok(mut file) = File::open(&self.path) else {
            return;
        };
        file.seek(SeekFrom::Start(self.offset)).unwrap();
        let mut text = String::new();
        let n = file.read_to_string(&mut text).unwrap_or(0);
        self.offset += n as u64;
        self.partial.push_str(&text);
        let Some(end) = self.partial.rfind('\n') else {
            return;
        };
        let complete: String = self.partial.drain(..=end).collect();
        for line in complete.lines() {
            let Some(call) = Call::parse(&self.process, line) else {
                continue;
            };
            for &id in &call.ids {
                let n = self.counts.entry((call.route.clone(), id)).or_insert(0);
                if *n == 0 {
                    *self.distinct.entry(call.route.clone()).or_insert(0) += 1;
                }
                *n += 1;
                self.handlings += 1;
            }
            self.calls.push(call);
        }
    }

    /// Times each id of `route` was handled.
    pub fn route(&self, route: &str) -> BTreeMap<u64, u32> {
        self.counts
            .iter()
            .filter(|((r, _), _)| r == route)
            .map(|((_, id), n)| (*id, *n))
            .collect()
    }

    /// Distinct ids of `route` handled so far.
    pub fn route_len(&self, route: &str) -> usize {
        self.distinct.get(route).copied().unwrap_or(0)
    }

    /// The calls of `route` recorded so far.
    pub fn calls_of<'a>(&'a self, route: &'a str) -> impl Iterator<Item = Call> + 'a {
        self.calls.iter().filter(move |c| c.route == route).cloned()
    }

    /// Marker lines (`# ...`) written so far.
    pub fn markers(&self) -> Vec<String> {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }
}

/// The Unix seconds at which a worker's `tick` (cron, every second,
/// `singleton = true`) fired, from its markers.
pub fn ticks(w: &WorkerProc) -> Vec<u64> {
    w.log
        .markers()
        .iter()
        .filter_map(|m| m.strip_prefix("# tick "))
        .map(|s| s.parse().unwrap())
        .collect()
}

/// Adds every call of `route` the workers recorded to `history`.
pub fn record_calls(history: &mut History, workers: &mut [&mut WorkerProc], route: &str) {
    for w in workers.iter_mut() {
        w.log.refresh();
        history.calls(w.log.calls_of(route));
    }
}

/// Handled counts of `route` over several workers.
pub fn merged(workers: &mut [&mut WorkerProc], route: &str) -> BTreeMap<u64, u32> {
    let mut all = BTreeMap::new();
    for w in workers.iter_mut() {
        w.log.refresh();
        for (id, n) in w.log.route(route) {
            *all.entry(id).or_insert(0) += n;
        }
    }
    all
}
