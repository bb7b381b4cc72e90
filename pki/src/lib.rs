//! The cluster's certificates (`broadside certs`): a cluster CA, and certificates for masters,
//! workers and clients that say who they are.
//!
//! Identity follows the convention of Nomad and Consul: a certificate names its holder by a DNS
//! subject alternative name under [`DOMAIN`] — `node-1.masters.broadside.internal` for master
//! 1, `NAME.workers.broadside.internal` for worker `NAME`, `NAME.clients.broadside.internal`
//! for a client — besides the addresses it serves on. A peer checks the chain to the cluster
//! CA, the extended key usage (a master's certificate serves and connects; a worker's and a
//! client's only connect) and that the certificate is valid for the identity the caller claims
//! ([`verify`]), so a certificate of worker A cannot act as worker B or as a master. Keys are
//! ECDSA P-256; certificates are PEM. Operators may bring their own CA, as long as it issues
//! these names and usages.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// The domain under which certificates name their holders.
pub const DOMAIN: &str = "broadside.internal";

/// How long a CA made by [`Ca::init`] is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 86_400);

/// How long an issued certificate is valid unless told otherwise.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(365 * 86_400);

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name that cannot be part of a DNS name.
    #[error("invalid {what} `{name}`: use 1 to 63 lowercase letters, digits or `-`, not starting or ending with `-`")]
    Name {
        /// What the name is of.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A name a certificate cannot be issued for.
    #[error("`{0}` is neither an IP address nor a DNS name a certificate can hold (no wildcards)")]
    SubjectName(String),
    /// A role other than master, worker or client.
    #[error("unknown role `{0}`: expected master, worker or client")]
    Role(String),
    /// A master's id that is not a positive number.
    #[error("invalid master id `{0}`: expected a positive number")]
    MasterId(String),
    /// The certificate or key could not be made, read or parsed.
    #[error("{what}: {source}")]
    Rcgen {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        source: rcgen::Error,
    },
    /// Not a PEM certificate.
    #[error("{0}: not a PEM certificate")]
    Pem(&'static str),
    /// The certificate does not chain to the CA, is not valid now, or lacks the usage.
    #[error("certificate refused: {0}")]
    Refused(String),
    /// The certificate is valid but does not name the identity claimed.
    #[error("certificate is not {0}'s")]
    NotIdentity(String),
}

/// Who a certificate belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Master (Raft node) with this id.
    Master(u64),
    /// Worker with this name (its worker id).
    Worker(String),
    /// A client (the CLI, a CI job) with this name.
    Client(String),
}

impl Identity {
    /// An identity from a role (`master`, `worker`, `client`) and a name (a master's id).
    pub fn new(role: &str, name: &str) -> Result<Identity, Error> {
        match role {
            "master" => name
                .parse()
                .ok()
                .filter(|id| *id > 0)
                .map(Identity::Master)
                .ok_or_else(|| Error::MasterId(name.to_owned())),
            "worker" => Ok(Identity::Worker(label("worker name", name)?)),
            "client" => Ok(Identity::Client(label("client name", name)?)),
            other => Err(Error::Role(other.to_owned())),
        }
    }

    /// The DNS name that says who holds the certificate.
    pub fn dns_name(&self) -> String {
        match self {
            Identity::Master(id) => format!("node-{id}.masters.{DOMAIN}"),
            Identity::Worker(name) => format!("{name}.workers.{DOMAIN}"),
            Identity::Client(name) => format!("{name}.clients.{DOMAIN}"),
        }
    }

    /// The identity a DNS name under [`DOMAIN`] names (`node-1.masters.…`, `w1.workers.…`,
    /// `ci.clients.…`), if it names one.
    pub fn from_dns_name(name: &str) -> Option<Identity> {
        let rest = name.strip_suffix(DOMAIN)?.strip_suffix('.')?;
        let (label, role) = rest.split_once('.')?;
        match role {
            "masters" => Identity::new("master", label.strip_prefix("node-")?).ok(),
            "workers" => Identity::new("worker", label).ok(),
            "clients" => Identity::new("client", label).ok(),
            _ => None,
        }
    }

    /// The file stem for its certificate and key (`master-1`, `worker-w1`, `client-ci`).
    pub fn file_stem(&self) -> String {
        match self {
            Identity::Master(id) => format!("master-{id}"),
            Identity::Worker(name) => format!("worker-{name}"),
            Identity::Client(name) => format!("client-{name}"),
        }
    }

    fn usages(&self) -> Vec<ExtendedKeyUsagePurpose> {
        match self {
            // A master serves REST and tarpc and connects to its peers.
            Identity::Master(_) => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            Identity::Worker(_) | Identity::Client(_) => vec![ExtendedKeyUsagePurpose::ClientAuth],
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Master(id) => write!(f, "master {id}"),
            Identity::Worker(name) => write!(f, "worker {name}"),
            Identity::Client(name) => write!(f, "client {name}"),
        }
    }
}

/// Checks that `name` can be one DNS label.
fn label(what: &'static str, name: &str) -> Result<String, Error> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(Error::Name {
            what,
            name: name.to_owned(),
        })
    }
}

/// A name a certificate is also valid for: where its holder is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectName {
    /// A DNS name.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
}

impl FromStr for SubjectName {
    type Err = Error;

    /// An IP address if it parses as one, else a DNS name — refused unless a client could
    /// check a certificate against it (no wildcard, no empty label).
    fn from_str(s: &str) -> Result<Self, Error> {
        if let Ok(ip) = s.parse() {
            return Ok(SubjectName::Ip(ip));
        }
        match ServerName::try_from(s) {
            Ok(ServerName::DnsName(_)) if !s.contains('*') => Ok(SubjectName::Dns(s.to_owned())),
            _ => Err(Error::SubjectName(s.to_owned())),
        }
    }
}

impl std::fmt::Display for SubjectName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubjectName::Dns(name) => f.write_str(name),
            SubjectName::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A certificate and its private key, PEM. Its `Debug` form never shows the key.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// The private key (PKCS#8). Keep it private.
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

/// The cluster CA: it signs the certificates of masters, workers and clients.
pub struct Ca {
    cert_pem: String,
    key: KeyPair,
    /// The CA as rcgen signs with it (its name, key identifier and usages).
    issuer: Certificate,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

fn rcgen(what: &'static str) -> impl FnOnce(rcgen::Error) -> Error {
    move |source| Error::Rcgen { what, source }
}

fn validity(params: &mut CertificateParams, valid_for: Duration) {
    let now = time::OffsetDateTime::now_utc();
    // A little in the past: clocks of the cluster's machines differ.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + valid_for;
}

impl Ca {
    /// A new CA for the cluster named `cluster`, valid for [`CA_VALIDITY`].
    pub fn init(cluster: &str) -> Result<Ca, Error> {
        let key = KeyPair::generate().map_err(rcgen("generating the CA key"))?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CommonName,
            format!("Broadside cluster CA {cluster}"),
        );
        name.push(DnType::OrganizationName, "Broadside");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, CA_VALIDITY);
        let issuer = params.self_signed(&key).map_err(rcgen("signing the CA"))?;
        Ok(Ca {
            cert_pem: issuer.pem(),
            key,
            issuer,
        })
    }

    /// A CA from its certificate and key (PEM), made by [`Ca::init`] or brought by the
    /// operator.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca, Error> {
        let key = KeyPair::from_pem(key_pem).map_err(rcgen("reading the CA key"))?;
        let params = CertificateParams::from_ca_cert_pem(cert_pem)
            .map_err(rcgen("reading the CA certificate"))?;
        // Only its name, key identifier and usages are used to sign: the certificate itself
        // stays the one given.
        let issuer = params
            .self_signed(&key)
            .map_err(rcgen("reading the CA certificate"))?;
        Ok(Ca {
            cert_pem: cert_pem.to_owned(),
            key,
            issuer,
        })
    }

    /// The CA's certificate (PEM): what every member trusts.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key (PEM). Keep it off the cluster's machines when possible.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A certificate for `who`, also valid for `names`, for `valid_for` from now.
    pub fn issue(
        &self,
        who: &Identity,
        names: &[SubjectName],
        valid_for: Duration,
    ) -> Result<Issued, Error> {
        let now = SystemTime::now();
        // A little in the past: clocks of the cluster's machines differ.
        self.issue_between(who, names, now - Duration::from_secs(3600), now + valid_for)
    }

    /// A certificate for `who`, also valid for `names`, from `not_before` to `not_after`.
    pub fn issue_between(
        &self,
        who: &Identity,
        names: &[SubjectName],
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Issued, Error> {
        let key = KeyPair::generate().map_err(rcgen("generating a key"))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, who.dns_name());
        params.distinguished_name = dn;
        let mut sans = vec![SanType::DnsName(
            who.dns_name()
                .try_into()
                .map_err(rcgen("naming the certificate"))?,
        )];
        for name in names {
            if let SubjectName::Dns(d) = name {
                if d.trim_end_matches('.').ends_with(DOMAIN) {
                    // Only the holder's own identity may be named under the domain: another
                    // name there (or a wildcard) would let it pass as someone else.
                    return Err(Error::Refused(format!(
                        "{d}: names under {DOMAIN} are identities; the certificate already \
                         names {}",
                        who.dns_name()
                    )));
                }
            }
            sans.push(match name {
                SubjectName::Dns(d) => SanType::DnsName(
                    d.clone()
                        .try_into()
                        .map_err(rcgen("a DNS name of the certificate"))?,
                ),
                SubjectName::Ip(ip) => SanType::IpAddress(*ip),
            });
        }
        params.subject_alt_names = sans;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = who.usages();
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        let cert = params
            .signed_by(&key, &self.issuer, &self.key)
            .map_err(rcgen("signing the certificate"))?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The first certificate of a PEM document, DER.
pub fn first_cert_der(pem: &str, what: &'static str) -> Result<CertificateDer<'static>, Error> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|_| Error::Pem(what))
}

/// Checks that `cert` (DER) chains to the CA (`ca`, DER), is valid at `now`, may be used by
/// `who` as a client (and as a server, for a master), and names `who`.
pub fn verify(
    ca: &CertificateDer<'_>,
    cert: &CertificateDer<'_>,
    who: &Identity,
    now: SystemTime,
) -> Result<(), Error> {
    let refused = |e: webpki::Error| Error::Refused(format!("{e:?}"));
    let anchor = webpki::anchor_from_trusted_cert(ca).map_err(refused)?;
    let end = webpki::EndEntityCert::try_from(cert).map_err(refused)?;
    let at = UnixTime::since_unix_epoch(
        now.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default(),
    );
    let mut usages = vec![webpki::KeyUsage::client_auth()];
    if matches!(who, Identity::Master(_)) {
        usages.push(webpki::KeyUsage::server_auth());
    }
    for usage in usages {
        end.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            std::slice::from_ref(&anchor),
            &[],
            at,
            usage,
            None,
            None,
        )
        .map_err(refused)?;
    }
    let name =
        ServerName::try_from(who.dns_name()).map_err(|_| Error::NotIdentity(who.to_string()))?;
    end.verify_is_valid_for_subject_name(&name)
        .map_err(|_| Error::NotIdentity(who.to_string()))
}

/// The names among `names` that `cert` (DER) is not valid for.
pub fn names_missing<'a>(
    cert: &CertificateDer<'_>,
    names: &'a [SubjectName],
) -> Result<Vec<&'a SubjectName>, Error> {
    let end =
        webpki::EndEntityCert::try_from(cert).map_err(|e| Error::Refused(format!("{e:?}")))?;
    Ok(names
        .iter()
        .filter(|name| {
            let server = match name {
                SubjectName::Dns(dns) => ServerName::try_from(dns.as_str()).ok(),
                SubjectName::Ip(ip) => Some(ServerName::IpAddress((*ip).into())),
            };
            server.is_none_or(|s| end.verify_is_valid_for_subject_name(&s).is_err())
        })
        .collect())
}

pub mod tls;

#[cfg(test)]
mod tests;
