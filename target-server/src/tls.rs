//! TLS for the target: a self-signed certificate generated at start-up and
//! rustls configurations that advertise ALPN `h2` and `http/1.1`.
//!
//! Clients (tests, the engine) can trust the certificate exactly, instead of
//! disabling verification, with [`client_config_trusting`].

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rustls::crypto::ring::default_provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// ALPN protocols offered by the target, most preferred first.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A freshly generated self-signed certificate and its server configuration.
#[derive(Clone)]
pub struct SelfSigned {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    server_config: Arc<ServerConfig>,
}

impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned").finish_non_exhaustive()
    }
}

impl SelfSigned {
    /// Generates a certificate valid for `localhost`, `127.0.0.1`, `::1` and
    /// the IP of `listen` (when it is a specific address).
    pub fn generate(listen: SocketAddr) -> io::Result<Self> {
        let mut names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let ip = listen.ip();
        if !ip.is_unspecified() && !ip.is_loopback() {
            names.push(ip.to_string());
        }
        let certified = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
        let cert_der = certified.cert.der().clone();
        let cert_pem = certified.cert.pem();
        let key =
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
        let mut server_config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(vec![cert_der.clone()], key)
            .map_err(io::Error::other)?;
        server_config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
        Ok(Self {
            cert_der,
            cert_pem,
            server_config: Arc::new(server_config),
        })
    }

    /// The certificate, DER-encoded.
    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The certificate, PEM-encoded (e.g. to write a CA file for a client).
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The rustls server configuration (ALPN `h2`, `http/1.1`).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.server_config)
    }
}

/// A rustls client configuration that trusts only `cert` and offers the given
/// ALPN protocols (e.g. `&[b"h2"]`, or [`ALPN_PROTOCOLS`]).
pub fn client_config_trusting(
    cert: &CertificateDer<'static>,
    alpn: &[&[u8]],
) -> io::Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).map_err(io::Error::other)?;
    let mut config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The server name a client should verify for a target listening on `addr`:
/// its IP, or `127.0.0.1` when it listens on an unspecified address.
pub fn server_name_for(addr: SocketAddr) -> rustls::pki_types::ServerName<'static> {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        ip => ip,
    };
    rustls::pki_types::ServerName::IpAddress(ip.into())
}
