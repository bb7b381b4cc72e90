//! Which addresses a run may send load to.
//!
//! Broadside refuses, by default, to send load anywhere but loopback: a load test pointed at
//! the wrong host is an outage. Other addresses must be allowed explicitly.

use std::net::IpAddr;

/// The set of addresses load may go to.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only_refuses_other_addresses() {
        let p = AddressPolicy::LoopbackOnly;
        assert!(p.allows("127.0.0.1".parse().unwrap()));
        assert!(p.allows("127.9.8.7".parse().unwrap()));
        assert!(p.allows("::1".parse().unwrap()));
        assert!(p.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!p.allows("192.0.2.1".parse().unwrap()));
        assert!(!p.allows("203.0.113.5".parse().unwrap()));
        assert!(!p.allows("::ffff:203.0.113.5".parse().unwrap()));
        assert!(AddressPolicy::Any.allows("203.0.113.5".parse().unwrap()));
    }
}
