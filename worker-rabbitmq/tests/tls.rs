//! `amqps://` against the real RabbitMQ, with a private CA generated here:
//! the test starts a TLS listener on the running node (`rabbitmqctl eval`,
//! the certificates passed inline), which requires a client certificate
//! signed by the same CA (mutual TLS). The worker connects with the CA and
//! the client certificate from the files its variables name, and publishes
//! and consumes through it; without the CA, or without the client
//! certificate, the connection is refused with a clear error.

use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use worker_core::backend::broker::{Broker, Channel, Deliveries, Properties, QueueOptions};
use worker_core::backend::config::{Config, MainOptions};
use worker_rabbitmq::{RabbitBroker, RabbitOptions, Tls};
use worker_testkit::rabbitmqctl;

/// The test's PKI, written to files as an operator would have them.
struct Pki {
    dir: std::path::PathBuf,
    ca_der: Vec<u8>,
    server_der: Vec<u8>,
    server_key_der: Vec<u8>,
}

impl Pki {
    fn generate() -> Pki {
        let dir = std::env::temp_dir().join(format!("worker-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "worker test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf = |names: Vec<String>, cn: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
            (cert, key)
        };
        let (server, server_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()], "localhost");
        let (client, client_key) = leaf(Vec::new(), "worker-client");
        let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();
        write("ca.pem", ca.pem());
        write("client.pem", client.pem());
        write("client.key", client_key.serialize_pem());
        Pki {
            ca_der: ca.der().to_vec(),
            server_der: server.der().to_vec(),
            server_key_der: server_key.serialize_der(),
            dir,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

/// An Erlang binary literal.
fn binary(bytes: &[u8]) -> String {
    let items: Vec<String> = bytes.iter().map(u8::to_string).collect();
    format!("<<{}>>", items.join(","))
}

/// A TLS listener on the running node: `port`, verifying clients.
fn start_listener(pki: &Pki, port: u16) {
    let expr = format!(
        "rabbit_networking:start_ssl_listener({port}, [{{cacerts, [{}]}}, {{cert, {}}}, {{key, {{'PrivateKeyInfo', {}}}}}, {{verify, verify_peer}}, {{fail_if_no_peer_cert, true}}], 1).",
        binary(&pki.ca_der),
        binary(&pki.server_der),
        binary(&pki.server_key_der),
    );
    let out = rabbitmqctl(&["eval", &expr]);
    assert!(out.trim() == "ok", "start_ssl_listener: {out}");
}

fn stop_listener(port: u16) {
    let _ = rabbitmqctl(&[
        "eval",
        &format!("rabbit_networking:stop_tcp_listener({port})."),
    ]);
}

fn tls_of(vars: &[(&str, String)]) -> Tls {
    let config = Config::from_vars(
        vars.iter().map(|(k, v)| (k.to_string(), v.clone())),
        &MainOptions::default(),
    )
    .unwrap();
    Tls::from_config(&config, "default").unwrap()
}

fn broker(port: u16, tls: Tls) -> RabbitBroker {
    let url = format!("amqps://guest:guest@localhost:{port}/%2f?connection_timeout=5000");
    RabbitBroker::new(
        &url,
        RabbitOptions {
            tls,
            ..RabbitOptions::named("worker-tls-test")
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_with_a_private_ca_and_a_client_certificate() {
    let pki = Pki::generate();
    let port = worker_testkit::free_local_addr().port();
    start_listener(&pki, port);
    let ca = ("WORKER_TLS_CA_FILE", pki.path("ca.pem"));
    let cert = ("WORKER_AMQP_TLS_CERT_FILE", pki.path("client.pem"));
    let key = ("WORKER_AMQP_TLS_KEY_FILE", pki.path("client.key"));

    // Everything configured: publish and consume over TLS.
    let queue = format!("worker-tls-test.{}", std::process::id());
    let b = broker(port, tls_of(&[ca.clone(), cert.clone(), key.clone()]));
    let outcome = async {
        let ch = b.channel().await?;
        // Exclusive: deleted with the connection.
        let options = QueueOptions::default().with_exclusive(true);
        ch.declare_queue(&queue, &options).await?;
        ch.publish("", &queue, b"over tls", &Properties::default())
            .await?;
        let mut deliveries = ch.consume(&[queue.as_str()], "tls-test").await?;
        let d = tokio::time::timeout(Duration::from_secs(10), deliveries.next())
            .await
            .expect("a delivery within 10 s")
            .expect("the stream is open")?;
        ch.ack(d.tag, false).await?;
        Ok::<_, worker_core::backend::error::BrokerError>(d.body)
    }
    .await;

    // Without the client certificate the broker refuses the handshake;
    // without the CA the worker refuses the broker's certificate.
    let no_client = broker(port, tls_of(std::slice::from_ref(&ca)))
        .channel()
        .await;
    let no_ca = broker(port, tls_of(&[cert, key])).channel().await;
    stop_listener(port);

    assert_eq!(
        &outcome.expect("publish and consume over amqps")[..],
        b"over tls"
    );
    let e = no_client.expect_err("refused without a client certificate");
    assert!(
        e.message()
            .contains("cannot connect to `amqps://guest:****@localhost"),
        "{e}"
    );
    println!("[amqps] without the client certificate: {e}");
    let e = no_ca.expect_err("refused without the CA");
    let text = e.message().to_ascii_lowercase();
    assert!(text.contains("certificate"), "{e}");
    assert!(!text.contains("guest:guest"), "{e}");
    println!("[amqps] without the CA: {e}");
    let _ = std::fs::remove_dir_all(&pki.dir);
}
