//! Where a run may send load.
//!
//! Broadside refuses, by default, to send load anywhere but loopback: a load test pointed at
//! the wrong host is an outage. The operator who runs a worker sets its ceiling
//! ([`AddressPolicy`], `--allow-remote-targets`); a project may narrow it further to the hosts,
//! networks and ports its jobs are meant to load ([`AllowedTargets`]). Both are checked on every
//! new connection — redirects included — against the address the name resolved to, which is
//! the address then connected to (a name cannot be re-resolved elsewhere in between).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

/// The operator's ceiling: the set of addresses load may go to at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressPolicy {
    /// Only 127.0.0.0/8 and ::1 (the default).
    #[default]
    LoopbackOnly,
    /// Any address (`--allow-remote-targets`).
    Any,
}

impl AddressPolicy {
    /// Whether load may be sent to `ip`.
    pub fn allows(self, ip: IpAddr) -> bool {
        match self {
            AddressPolicy::Any => true,
            AddressPolicy::LoopbackOnly => match ip {
                IpAddr::V4(v4) => v4.is_loopback(),
                IpAddr::V6(v6) => {
                    v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
                }
            },
        }
    }
}

/// Everything a run's connections are checked against.
#[derive(Debug, Clone)]
pub struct TargetPolicy {
    /// The operator's ceiling.
    pub ceiling: AddressPolicy,
    /// The project's own list, inside the ceiling (`None`: the ceiling alone).
    pub allowed: Option<Arc<AllowedTargets>>,
    /// Whether `http.tls_insecure` may turn certificate checks off. A worker allows it only
    /// with `--allow-insecure-tls`; a local `broadside run` is its own operator and does.
    pub insecure_tls: bool,
}

impl Default for TargetPolicy {
    fn default() -> Self {
        TargetPolicy::from(AddressPolicy::default())
    }
}

impl From<AddressPolicy> for TargetPolicy {
    fn from(ceiling: AddressPolicy) -> Self {
        TargetPolicy {
            ceiling,
            allowed: None,
            insecure_tls: true,
        }
    }
}

impl TargetPolicy {
    /// Why a connection to `host:port`, resolved to `ip`, is refused (`None`: allowed).
    pub fn refusal(&self, host: &str, ip: IpAddr, port: u16) -> Option<String> {
        if !self.ceiling.allows(ip) {
            return Some(if ip.to_string() == host {
                format!("{host} is not a loopback address")
            } else {
                format!("{host} resolves to {ip}, not a loopback address")
            });
        }
        match &self.allowed {
            Some(list) if !list.allows(host, ip, port) => Some(format!(
                "{host}:{port} ({ip}) is not among the project's targets ({list})"
            )),
            _ => None,
        }
    }
}

/// A project's targets: host names, addresses and networks, each with an optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedTargets(Vec<TargetRule>);

/// One entry of [`AllowedTargets`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct TargetRule {
    what: Matcher,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Matcher {
    /// A host name (lower case); `*.example.com` matches names under `example.com`.
    Name(String),
    /// An address or a network.
    Net(IpNet),
}

impl AllowedTargets {
    /// Parses entries such as `api.example.com`, `api.example.com:8443`, `*.example.com`,
    /// `127.0.0.0/8`, `127.1.2.3:443`, `::1`, `[::1/128]:443`; the error names the entry.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowedTargets, String> {
        entries
            .iter()
            .map(|e| TargetRule::parse(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(AllowedTargets)
    }

    /// Whether a connection to `host:port`, resolved to `ip`, is allowed.
    pub fn allows(&self, host: &str, ip: IpAddr, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        self.0.iter().any(|rule| {
            rule.port.is_none_or(|p| p == port)
                && match &rule.what {
                    Matcher::Net(net) => net.contains(&ip),
                    Matcher::Name(name) => match name.strip_prefix("*.") {
                        Some(domain) => host
                            .strip_suffix(domain)
                            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                        None => host == *name,
                    },
                }
        })
    }
}

impl fmt::Display for AllowedTargets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rule) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match (&rule.what, rule.port) {
                (Matcher::Name(n), None) => write!(f, "{n}")?,
                (Matcher::Name(n), Some(p)) => write!(f, "{n}:{p}")?,
                (Matcher::Net(net), None) => write!(f, "{}", net_text(net))?,
                (Matcher::Net(IpNet::V6(net)), Some(p)) => {
                    write!(f, "[{}]:{p}", net_text(&IpNet::V6(*net)))?
                }
                (Matcher::Net(net), Some(p)) => write!(f, "{}:{p}", net_text(net))?,
            }
        }
        Ok(())
    }
}

/// A network as written: a single address without its `/32` or `/128`.
fn net_text(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

impl TargetRule {
    fn parse(entry: &str) -> Result<TargetRule, String> {
        let entry = entry.trim();
        let bad = |why: &str| format!("target `{entry}`: {why}");
        if entry.is_empty() {
            return Err(bad("empty"));
        }
        // `[v6 or v6/len]:port`, `v6`, `v6/len`, `v4[/len][:port]`, `name[:port]`.
        let (what, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(|| bad("missing `]`"))?;
            match after {
                "" => (inside, None),
                _ => (
                    inside,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| bad("expected `:port` after `]`"))?,
                    ),
                ),
            }
        } else if entry.matches(':').count() > 1 {
            (entry, None)
        } else {
            match entry.split_once(':') {
                Some((what, port)) => (what, Some(port)),
                None => (entry, None),
            }
        };
        let port = port
            .map(|p| match p.parse::<u16>() {
                Ok(p) if p > 0 => Ok(p),
                _ => Err(bad("the port is not a number in 1..=65535")),
            })
            .transpose()?;
        let what = if let Ok(net) = what.parse::<IpNet>() {
            Matcher::Net(net.trunc())
        } else if let Ok(ip) = what.parse::<IpAddr>() {
            Matcher::Net(IpNet::from(ip))
        } else if valid_name(what) {
            Matcher::Name(what.to_ascii_lowercase())
        } else {
            return Err(bad(
                "expected a host name (optionally `*.` before a domain), an address or a CIDR network",
            ));
        };
        Ok(TargetRule { what, port })
    }
}

/// Letters, digits, `-` and `.`, in labels of 1..=63 characters; `*.` may lead.
fn valid_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_only_refuses_other_addresses() {
        let p = AddressPolicy::LoopbackOnly;
        assert!(p.allows(ip("127.0.0.1")));
        assert!(p.allows(ip("127.9.8.7")));
        assert!(p.allows(ip("::1")));
        assert!(p.allows(ip("::ffff:127.0.0.1")));
        assert!(!p.allows(ip("192.0.2.1")));
        assert!(!p.allows(ip("203.0.113.5")));
        assert!(!p.allows(ip("::ffff:203.0.113.5")));
        assert!(AddressPolicy::Any.allows(ip("203.0.113.5")));
    }

    #[test]
    fn targets_match_names_networks_and_ports() {
        let t = AllowedTargets::parse(&[
            "api.example.test",
            "*.svc.test:8443",
            "127.0.0.2",
            "127.16.0.0/12:443",
            "[::1/128]:80",
        ])
        .unwrap();
        assert!(t.allows("API.example.test", ip("192.0.2.1"), 1234));
        assert!(t.allows("a.svc.test", ip("192.0.2.1"), 8443));
        assert!(!t.allows("a.svc.test", ip("192.0.2.1"), 80));
        assert!(!t.allows("svc.test", ip("192.0.2.1"), 8443));
        assert!(!t.allows("evilsvc.test", ip("192.0.2.1"), 8443));
        assert!(t.allows("127.0.0.2", ip("127.0.0.2"), 9));
        assert!(!t.allows("127.0.0.1", ip("127.0.0.1"), 9));
        // A name resolving into an allowed network is allowed there, on its port only.
        assert!(t.allows("db.internal", ip("127.20.4.5"), 443));
        assert!(!t.allows("db.internal", ip("127.20.4.5"), 80));
        assert!(t.allows("x", ip("::1"), 80));
        assert!(!t.allows("::1", ip("::1"), 5));
        assert_eq!(
            t.to_string(),
            "api.example.test, *.svc.test:8443, 127.0.0.2, 127.16.0.0/12:443, [::1]:80"
        );
    }

    #[test]
    fn bad_entries_are_named() {
        for (entry, why) in [
            ("", "empty"),
            ("host:0", "port"),
            ("host:http", "port"),
            ("[::1", "`]`"),
            ("a..b", "host name"),
            ("-a.test", "host name"),
            ("127.0.0.0/33", "host name"),
        ] {
            let e = AllowedTargets::parse(&[entry]).unwrap_err();
            assert!(
                e.contains(why) && e.contains(&format!("`{}`", entry.trim())),
                "{entry}: {e}"
            );
        }
    }

    #[test]
    fn the_project_list_narrows_the_ceiling_and_never_widens_it() {
        let policy = TargetPolicy {
            ceiling: AddressPolicy::LoopbackOnly,
            allowed: Some(Arc::new(
                AllowedTargets::parse(&["127.0.0.2", "192.0.2.0/24"]).unwrap(),
            )),
            insecure_tls: false,
        };
        assert_eq!(policy.refusal("127.0.0.2", ip("127.0.0.2"), 80), None);
        let refused = policy.refusal("localhost", ip("127.0.0.1"), 80).unwrap();
        assert!(
            refused.contains("not among the project's targets"),
            "{refused}"
        );
        let refused = policy.refusal("192.0.2.7", ip("192.0.2.7"), 80).unwrap();
        assert!(refused.contains("not a loopback address"), "{refused}");
    }

    #[test]
    fn insecure_tls_needs_the_operators_consent() {
        use crate::protocol::http::HttpProtocol;
        let settings = crate::model::HttpProtocol {
            tls_insecure: true,
            ..Default::default()
        };
        let strict = TargetPolicy {
            insecure_tls: false,
            ..TargetPolicy::default()
        };
        let refused = HttpProtocol::new(&settings, strict).err().unwrap();
        assert!(refused.contains("--allow-insecure-tls"), "{refused}");
        assert!(HttpProtocol::new(&settings, TargetPolicy::default()).is_ok());
    }
}
