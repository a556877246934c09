//! The process's rustls crypto provider. With the `sse` feature, reqwest
//! is built with `rustls-no-provider` (ring rather than aws-lc, which needs
//! a C toolchain), and features are unified across a program: any reqwest
//! client the program builds, not only the SSE consumers', then needs a
//! process-wide provider. The framework installs ring's when its HTTP or
//! SSE service is made, unless the program installed one first.

/// Installs rustls' ring provider as the process default, if none is.
pub(crate) fn install() {
    #[cfg(feature = "sse")]
    {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
