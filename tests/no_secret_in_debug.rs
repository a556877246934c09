//! No secret in any `Debug` or `Display`: every public type that holds
//! configuration (the resolved `Config`, the runtime and its builder, the
//! test harness, the backends' options, the errors a bad variable gives) is
//! formatted with a secret in every variable that can hold one, and none of
//! the secrets may appear.
//!
//! The variables are taken from the runtime's own tables, so a variable
//! added later is covered: every `*_URL` and `*_HEADERS` variable of
//! `worker::config::VARIABLES` and of the HTTP and SSE services gets a
//! value with a secret of its own.

use std::sync::Arc;

use worker::config::{Config, Variable, VARIABLES};
use worker::runtime::{Backends, Runtime, Service};

/// A value of `var` holding `secret` where its kind of value keeps one.
fn secret_value(var: &str, secret: &str) -> String {
    if var.ends_with("_HEADERS") {
        format!("Authorization: Bearer {secret}\nX-Api-Key: {secret}")
    } else if var.contains("MANAGEMENT") {
        format!("http://admin:{secret}@mgmt.example:15672")
    } else if var.starts_with("WORKER_SSE") {
        format!("https://feed:{secret}@events.example/stream?token={secret}&access_token={secret}")
    } else {
        format!(
            "amqp://user:{secret}@node1.example:5672/%2f,amqps://user:{secret}@node2.example/%2f"
        )
    }
}

/// Every variable that can hold a secret, `<NAME>` made `EU`, each with
/// its own secret: `(name, value, secret)`.
fn secret_vars() -> Vec<(String, String, String)> {
    let services: Vec<Arc<dyn Service>> = worker::backends().services().to_vec();
    let mut tables: Vec<Variable> = VARIABLES.to_vec();
    for service in &services {
        tables.extend_from_slice(service.variables());
    }
    let mut out = Vec::new();
    for (i, var) in tables.iter().enumerate() {
        if !(var.name.ends_with("_URL") || var.name.ends_with("_HEADERS")) {
            continue;
        }
        let name = var.name.replace("<NAME>", "EU");
        let secret = format!("s3cr3t{i}x");
        out.push((name.clone(), secret_value(&name, &secret), secret));
    }
    out
}

fn assert_hidden(what: &str, shown: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !shown.contains(secret.as_str()),
            "{what} shows the secret `{secret}`:\n{shown}"
        );
    }
}

#[test]
fn the_secret_variables_are_found() {
    let names: Vec<String> = secret_vars().into_iter().map(|(n, _, _)| n).collect();
    for expected in [
        "WORKER_AMQP_URL",
        "WORKER_AMQP_EU_URL",
        "WORKER_AMQP_MANAGEMENT_URL",
        "WORKER_AMQP_EU_MANAGEMENT_URL",
        "WORKER_SSE_EU_URL",
        "WORKER_SSE_EU_HEADERS",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not among {names:?}"
        );
    }
}

#[tokio::test]
async fn no_configuration_type_shows_a_secret() {
    let vars = secret_vars();
    let secrets: Vec<String> = vars.iter().map(|(_, _, s)| s.clone()).collect();
    let main_secret = "mainpass9".to_owned();
    let mut all = secrets.clone();
    all.push(main_secret.clone());
    let main = worker::__private_0_1_0::MainOptions {
        amqp: Some("amqp://u:mainpass9@h/%2f"),
        ..Default::default()
    };
    let pairs = vars.iter().map(|(n, v, _)| (n.clone(), v.clone()));
    let config = Config::from_vars(pairs, &main).expect("the variables are valid");

    // The values are there, unmasked, for the code that connects.
    assert!(config.connection_url(Some("eu")).is_some_and(
        |u| u.contains(secrets[1].as_str()) || secrets.iter().any(|s| u.contains(s.as_str()))
    ));

    assert_hidden("Config", &format!("{config:?}"), &all);
    assert_hidden("Config (pretty)", &format!("{config:#?}"), &all);
    assert_hidden("MainOptions", &format!("{main:?}"), &all);

    let builder = Runtime::builder(config.clone())
        .routes(Vec::new())
        .hooks(Vec::new())
        .backends(worker::backends());
    assert_hidden("RuntimeBuilder", &format!("{builder:?}"), &all);
    let runtime = builder.build();
    assert_hidden("Runtime", &format!("{runtime:?}"), &all);
    assert_hidden(
        "Runtime::config()",
        &format!("{:?}", runtime.config()),
        &all,
    );
    assert_hidden("Backends", &format!("{:?}", Backends::new()), &all);

    let mut test_app = worker::testing::TestApp::builder().hooks(false);
    for (name, value, _) in &vars {
        test_app = test_app.env(name, value);
    }
    assert_hidden("TestAppBuilder", &format!("{test_app:?}"), &all);

    // The RabbitMQ backend's options and broker, and its TLS material.
    let dir = std::env::temp_dir().join(format!("worker-debug-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("client.key");
    let cert = dir.join("client.crt");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nkeysecret42\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\ncertbody\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mut with_tls = vars.clone();
    with_tls.push((
        "WORKER_AMQP_TLS_KEY_FILE".into(),
        key.display().to_string(),
        String::new(),
    ));
    with_tls.push((
        "WORKER_AMQP_TLS_CERT_FILE".into(),
        cert.display().to_string(),
        String::new(),
    ));
    let pairs = with_tls.iter().map(|(n, v, _)| (n.clone(), v.clone()));
    let tls_config = Config::from_vars(pairs, &main).unwrap();
    let tls = worker_rabbitmq::Tls::from_config(&tls_config, "default").unwrap();
    all.push("keysecret42".into());
    assert_hidden("Tls", &format!("{tls:?}"), &all);
    let options = worker_rabbitmq::RabbitOptions {
        management_url: tls_config.management_url(None).map(str::to_owned),
        tls,
        ..worker_rabbitmq::RabbitOptions::named("debug-test")
    };
    assert_hidden("RabbitOptions", &format!("{options:?}"), &all);
    let url = tls_config.connection_url(None).unwrap();
    let broker = worker_rabbitmq::RabbitBroker::new(url, options.clone());
    match &broker {
        Ok(b) => assert_hidden("RabbitBroker", &format!("{b:?}"), &all),
        Err(e) => assert_hidden("BrokerError", &format!("{e} {e:?}"), &all),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A variable whose value is refused: the error names the variable and
/// masks the password it was given.
#[test]
fn errors_about_a_bad_url_show_no_secret() {
    let main = worker::__private_0_1_0::MainOptions::default();
    for (var, value) in [
        (
            "WORKER_AMQP_URL",
            "amqp://user:badsecret1@host:notaport/%2f",
        ),
        ("WORKER_AMQP_URL", "redis://user:badsecret1@host/0"),
        (
            "WORKER_AMQP_EU_URL",
            "amqp://user:badsecret1@host:99999/%2f",
        ),
        ("WORKER_AMQP_MANAGEMENT_URL", "ftp://admin:badsecret1@host"),
    ] {
        let vars = [(var.to_owned(), value.to_owned())];
        let shown = match Config::from_vars(vars, &main) {
            Err(e) => format!("{e} {e:?}"),
            Ok(config) => {
                // Refused when connecting instead: build and connect.
                let runtime = Runtime::builder(config)
                    .routes(Vec::new())
                    .hooks(Vec::new())
                    .backends(worker::backends())
                    .build();
                match runtime.connect() {
                    Err(e) => format!("{e} {e:?}"),
                    Ok(_) => panic!("{var}={value} was accepted"),
                }
            }
        };
        assert!(
            !shown.contains("badsecret1"),
            "{var}={value}: the error shows the password: {shown}"
        );
        assert!(shown.contains("****") || shown.contains(var), "{shown}");
    }
}
