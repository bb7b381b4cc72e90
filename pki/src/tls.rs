//! TLS between the cluster's processes: rustls configurations built from the cluster CA and a
//! member's certificate, and the identity a peer's certificate proves.
//!
//! A master serves its cluster port with [`ClusterTls::server_config`]: it asks every caller
//! for a certificate chaining to the cluster CA but also lets a caller without one finish the
//! handshake (a worker presenting a join token), so that the services decide what an
//! unauthenticated connection may do ([`peer_identity`] says who a caller is). A process that
//! connects to a master uses [`ClusterTls::client_config`]: it proves its own identity and
//! accepts only a master's certificate, either a given master's (server name
//! `node-N.masters.broadside.internal`) or any master's ([`ANY_MASTER`], for a seed address
//! whose node id is not known yet).

use std::sync::Arc;
use std::time::SystemTime;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::{verify, Error, Identity, DOMAIN};

/// The server name a client asks for when any master of the cluster will do.
pub const ANY_MASTER: &str = "masters.broadside.internal";

/// The server name a client asks for to reach master `id` and no other.
pub fn master_server_name(id: u64) -> String {
    Identity::Master(id).dns_name()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain (the holder's first) and its key, from PEM.
fn chain_and_key(
    cert_pem: &str,
    key_pem: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    use rustls::pki_types::pem::PemObject;
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Error::Pem("the certificate"))?;
    if chain.is_empty() {
        return Err(Error::Pem("the certificate"));
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| Error::Pem("the key"))?;
    Ok((chain, key))
}

fn tls(what: &'static str) -> impl FnOnce(rustls::Error) -> Error {
    move |e| Error::Refused(format!("{what}: {e}"))
}

/// A member's TLS material: the cluster CA, its own certificate chain and key, and who the
/// certificate says it is.
pub struct ClusterTls {
    ca: CertificateDer<'static>,
    identity: Option<Identity>,
    chain: Vec<CertificateDer<'static>>,
    key: Option<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTls")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl ClusterTls {
    /// From PEM documents: the CA certificate, the member's certificate (chain) and its key.
    /// Refuses a certificate that does not chain to the CA, is not valid now, or names no
    /// broadside identity, saying which.
    pub fn from_pem(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<ClusterTls, Error> {
        let ca = crate::first_cert_der(ca_pem, "the CA certificate")?;
        let (chain, key) = chain_and_key(cert_pem, key_pem)?;
        let first = &chain[0];
        let identity = identity_of(first).ok_or_else(|| {
            Error::Refused(format!(
                "the certificate names no broadside identity (a DNS name under {DOMAIN}; \
                 issue it with `broadside certs issue`)"
            ))
        })?;
        verify(&ca, first, &identity, SystemTime::now())?;
        let tls = ClusterTls {
            ca,
            identity: Some(identity),
            chain,
            key: Some(key),
        };
        // A key that does not match the certificate fails here rather than at the first
        // handshake.
        tls.client_config()?;
        Ok(tls)
    }

    /// From PEM documents without checking the certificate against the CA or the clock: what
    /// a misconfigured or hostile process would present, for the tests of the refusals. A
    /// certificate that names no identity is presented as nobody's.
    pub fn from_pem_unchecked(
        ca_pem: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<ClusterTls, Error> {
        let (chain, key) = chain_and_key(cert_pem, key_pem)?;
        Ok(ClusterTls {
            ca: crate::first_cert_der(ca_pem, "the CA certificate")?,
            identity: identity_of(&chain[0]),
            chain,
            key: Some(key),
        })
    }

    /// Only the CA: a process that authenticates masters but has no certificate of its own
    /// (a worker joining with a token).
    pub fn anonymous(ca_pem: &str) -> Result<ClusterTls, Error> {
        Ok(ClusterTls {
            ca: crate::first_cert_der(ca_pem, "the CA certificate")?,
            identity: None,
            chain: Vec::new(),
            key: None,
        })
    }

    /// Who this process's certificate says it is (none for [`ClusterTls::anonymous`]).
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    fn roots(&self) -> Result<Arc<RootCertStore>, Error> {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.ca.clone())
            .map_err(tls("the CA certificate"))?;
        Ok(Arc::new(roots))
    }

    /// The configuration a master serves its cluster port with: its own certificate, and a
    /// caller's certificate asked for, checked against the CA when given, but not required.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, Error> {
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| Error::Refused("a master needs its own certificate".to_owned()))?;
        let clients = WebPkiClientVerifier::builder_with_provider(self.roots()?, provider())
            .allow_unauthenticated()
            .build()
            .map_err(|e| Error::Refused(format!("client verifier: {e}")))?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls("protocol versions"))?
            .with_client_cert_verifier(clients)
            .with_single_cert(self.chain.clone(), key.clone_key())
            .map_err(tls("the certificate and its key"))?;
        Ok(Arc::new(config))
    }

    /// The configuration a process connects to masters with: only a master's certificate
    /// chaining to the CA is accepted; its own certificate is presented when it has one.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, Error> {
        let inner = WebPkiServerVerifier::builder_with_provider(self.roots()?, provider())
            .build()
            .map_err(|e| Error::Refused(format!("server verifier: {e}")))?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls("protocol versions"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(MasterVerifier { inner }));
        let config = match &self.key {
            Some(key) => builder
                .with_client_auth_cert(self.chain.clone(), key.clone_key())
                .map_err(tls("the certificate and its key"))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// The configuration the REST API is served with over TLS: `cert_pem` (a chain, the server's
/// certificate first) and its key, no client certificate asked for, HTTP/2 and HTTP/1.1
/// offered through ALPN.
pub fn rest_server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>, Error> {
    let (chain, key) = chain_and_key(cert_pem, key_pem)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls("protocol versions"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(tls("the certificate and its key"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Who a certificate names: its one DNS subject alternative name under [`DOMAIN`], when that
/// reads as an identity. A certificate with several names under the domain (or a wildcard
/// there) names nobody. Says nothing about whether the certificate is valid: use it on a
/// certificate a TLS handshake has verified.
pub fn identity_of(cert: &CertificateDer<'_>) -> Option<Identity> {
    let params = rcgen::CertificateParams::from_ca_cert_der(cert).ok()?;
    let mut under_domain = params.subject_alt_names.iter().filter_map(|san| match san {
        rcgen::SanType::DnsName(name) if name.as_str().trim_end_matches('.').ends_with(DOMAIN) => {
            Some(name.as_str().to_owned())
        }
        _ => None,
    });
    let only = under_domain.next()?;
    if under_domain.next().is_some() {
        return None;
    }
    Identity::from_dns_name(&only)
}

/// Who the peer of a finished handshake is: the identity its verified certificate names, or
/// none when it presented no certificate.
pub fn peer_identity(certs: Option<&[CertificateDer<'_>]>) -> Option<Identity> {
    certs.and_then(<[_]>::first).and_then(identity_of)
}

/// Accepts a master's certificate chaining to the CA: the one the server name asks for, or
/// any master's for [`ANY_MASTER`].
#[derive(Debug)]
struct MasterVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for MasterVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The certificate must name exactly one master: the one asked for, or any for
        // ANY_MASTER.
        let not_valid =
            || rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName);
        let named = match identity_of(end_entity) {
            Some(master @ Identity::Master(_)) => master.dns_name(),
            _ => return Err(not_valid()),
        };
        let any = matches!(server_name, ServerName::DnsName(d) if d.as_ref() == ANY_MASTER);
        if !any && !matches!(server_name, ServerName::DnsName(d) if d.as_ref() == named) {
            return Err(not_valid());
        }
        let expected = ServerName::try_from(named)
            .map_err(|_| rustls::Error::General("unnamable master".to_owned()))?;
        self.inner
            .verify_server_cert(end_entity, intermediates, &expected, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
