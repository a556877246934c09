//! TLS of `amqps://` connections: extra trusted CAs and a client
//! certificate (mutual TLS), read from the PEM files that the variables
//! name.
//!
//! - `WORKER_AMQP_TLS_CA_FILE` (`WORKER_AMQP_<NAME>_TLS_CA_FILE` for a named
//!   connection), else `WORKER_TLS_CA_FILE`, the CA file every client of
//!   the process trusts: certificates trusted besides the operating
//!   system's.
//! - `WORKER_AMQP_TLS_CERT_FILE` and `WORKER_AMQP_TLS_KEY_FILE` (or the
//!   named ones): the client certificate chain and its PKCS#8 private key,
//!   both or neither.
//!
//! Files are read at startup: a missing file, one without a PEM
//! certificate or key, or a certificate without its key is a configuration
//! error naming the variable.

use std::fmt;

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use worker_core::backend::config::parse::read_pem;
use worker_core::backend::config::{Config, ConfigError, TLS_CA_FILE};

/// The TLS material of one connection. `Debug` shows what is there, never
/// the key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// PEM certificates trusted besides the system's.
    pub ca_pem: Option<String>,
    /// The client certificate chain and its private key, PEM.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("ca_pem_bytes", &self.ca_pem.as_ref().map(String::len))
            .field("client_certificate", &self.client.is_some())
            .finish()
    }
}

impl Tls {
    /// The settings of connection `name` (`default` for the default one).
    pub fn from_config(config: &Config, name: &str) -> Result<Tls, ConfigError> {
        let var = |suffix: &str| match name {
            "default" => format!("WORKER_AMQP_TLS_{suffix}"),
            n => format!("WORKER_AMQP_{}_TLS_{suffix}", n.to_ascii_uppercase()),
        };
        let (ca_var, cert_var, key_var) = (var("CA_FILE"), var("CERT_FILE"), var("KEY_FILE"));
        let ca = match config.var(&ca_var) {
            Some(path) => Some(read_pem(&ca_var, path, "CERTIFICATE")?),
            None => match config.var(TLS_CA_FILE.name) {
                Some(path) => Some(read_pem(TLS_CA_FILE.name, path, "CERTIFICATE")?),
                None => None,
            },
        };
        let client = match (config.var(&cert_var), config.var(&key_var)) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((
                read_pem(&cert_var, cert, "CERTIFICATE")?.into_bytes(),
                read_pem(&key_var, key, "PRIVATE KEY")?.into_bytes(),
            )),
            (Some(_), None) => return Err(missing(&key_var, &cert_var)),
            (None, Some(_)) => return Err(missing(&cert_var, &key_var)),
        };
        Ok(Tls { ca_pem: ca, client })
    }

    /// lapin's form of the settings.
    pub(crate) fn lapin(&self) -> OwnedTLSConfig {
        OwnedTLSConfig {
            identity: self.client.as_ref().map(|(pem, key)| OwnedIdentity::PKCS8 {
                pem: pem.clone(),
                key: key.clone(),
            }),
            cert_chain: self.ca_pem.clone(),
        }
    }
}

fn missing(absent: &str, given: &str) -> ConfigError {
    ConfigError::new(
        absent,
        format!("{given} is set: a client certificate needs its key and the key its certificate"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use worker_core::backend::config::MainOptions;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_vars(
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            &MainOptions::default(),
        )
        .unwrap()
    }

    fn file(name: &str, text: &str) -> String {
        let dir = std::env::temp_dir().join(format!("worker-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";

    #[test]
    fn files_are_read_per_connection_with_the_process_ca_as_fallback() {
        let (ca, cert, key) = (
            file("ca.pem", CERT),
            file("c.pem", CERT),
            file("k.pem", KEY),
        );
        let c = config(&[
            ("WORKER_TLS_CA_FILE", &ca),
            ("WORKER_AMQP_EU_TLS_CERT_FILE", &cert),
            ("WORKER_AMQP_EU_TLS_KEY_FILE", &key),
        ]);
        let default = Tls::from_config(&c, "default").unwrap();
        assert_eq!(default.ca_pem.as_deref(), Some(CERT));
        assert!(default.client.is_none());
        let eu = Tls::from_config(&c, "eu").unwrap();
        assert_eq!(eu.client, Some((CERT.into(), KEY.into())));
        let shown = format!("{eu:?}");
        assert!(!shown.contains("MIIB"), "{shown}");
        assert!(Tls::from_config(&config(&[]), "default").unwrap() == Tls::default());
    }

    #[test]
    fn bad_files_name_their_variable() {
        let cert = file("only-cert.pem", CERT);
        let e = Tls::from_config(&config(&[("WORKER_AMQP_TLS_CERT_FILE", &cert)]), "default")
            .unwrap_err();
        assert_eq!(e.variable(), "WORKER_AMQP_TLS_KEY_FILE");
        let e = Tls::from_config(
            &config(&[("WORKER_TLS_CA_FILE", "/no/such.pem")]),
            "default",
        )
        .unwrap_err();
        assert_eq!(e.variable(), "WORKER_TLS_CA_FILE");
        assert!(e.message().contains("/no/such.pem"), "{e}");
        let key_as_ca = file("key-as-ca.pem", KEY);
        let e = Tls::from_config(
            &config(&[("WORKER_AMQP_TLS_CA_FILE", &key_as_ca)]),
            "default",
        )
        .unwrap_err();
        assert!(e.message().contains("no PEM `CERTIFICATE` block"), "{e}");
    }
}
