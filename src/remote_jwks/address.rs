//! Which hosts a remote key-set fetch may reach (row C5): the URL check at registration
//! and before each request, and the DNS hook that filters every resolved address at
//! connection time, so that a name that resolves to a public address when registered and
//! to `169.254.169.254` later (DNS rebinding) still cannot reach the metadata service.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::ip_net::{IpNet, canonical};

/// The address policy: public unicast addresses only, plus loopback when the development
/// setting `remote_jwks_allow_loopback` is on, plus the operator's allow-list
/// (`remote_jwks_allowed_networks`).
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Development: loopback addresses, and plain `http://` to a loopback host.
    pub allow_loopback: bool,
    /// Networks reachable even though they are not public (an internal issuer).
    pub allowed: Vec<IpNet>,
}

/// Why a URL or an address is refused. The text names the rule, for the operator (CLI,
/// admin API, logs); OAuth clients only ever see `invalid_client` or `temporarily_unavailable`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0:?} is not a valid absolute URL")]
    NotAUrl(String),
    #[error(
        "only https URLs are fetched (http only to a loopback host with remote_jwks_allow_loopback)"
    )]
    Scheme,
    #[error("URLs with user information are not fetched")]
    UserInfo,
    #[error("{0} is not a public address (allow it with remote_jwks_allowed_networks)")]
    Address(IpAddr),
}

impl AddressPolicy {
    /// May a connection go to `ip`?
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if self.allowed.iter().any(|n| n.contains(ip)) {
            return true;
        }
        if ip.is_loopback() {
            return self.allow_loopback;
        }
        is_public(ip)
    }

    /// Checks a URL before it is stored or fetched: `https` (or `http` to a literal loopback
    /// host in development), no user information, and a literal IP host within the policy
    /// (literal addresses never reach the DNS hook).
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, Refused> {
        let u = reqwest::Url::parse(url).map_err(|_| Refused::NotAUrl(url.to_owned()))?;
        if !matches!(u.scheme(), "https" | "http") {
            return Err(Refused::Scheme);
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(Refused::UserInfo);
        }
        let literal = match u.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(Refused::NotAUrl(url.to_owned())),
        };
        match u.scheme() {
            "https" => {}
            // Plain http only to a host that is loopback by its spelling, not by what a
            // name resolves to: a public name cannot be made to downgrade.
            "http"
                if self.allow_loopback
                    && (literal.is_some_and(|ip| canonical(ip).is_loopback())
                        || u.host_str() == Some("localhost")) => {}
            _ => return Err(Refused::Scheme),
        }
        if let Some(ip) = literal
            && !self.permits(ip)
        {
            return Err(Refused::Address(ip));
        }
        Ok(u)
    }
}

/// Is `ip` a globally routable unicast address? Everything special-purpose (RFC 6890 and
/// its updates) is not: private (10/8, 172.16/12, 192.168/16), loopback, link-local
/// (169.254/16 with the cloud metadata service, fe80::/10), CGNAT (100.64/10), ULA
/// (fc00::/7, with AWS's fd00:ec2::254), documentation, benchmarking, multicast, reserved,
/// and IPv6 forms embedding an IPv4 address that is not public itself.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network"
        || a == 10                             // private
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // CGNAT, RFC 6598
        || (a == 169 && b == 254)              // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)    // 6to4 relay anycast
        || (a == 192 && b == 168)              // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100)   // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)    // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    // IPv4-compatible (deprecated ::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
    // reach an IPv4 address: public only if that address is.
    if s[..6] == [0; 6] || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4]) {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return is_public_v4(v4);
    }
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return is_public_v4(v4);
    }
    !((s[0] & 0xfe00) == 0xfc00                  // ULA fc00::/7 (fd00:ec2::254)
        || (s[0] & 0xffc0) == 0xfe80             // link-local
        || (s[0] & 0xffc0) == 0xfec0             // site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00             // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8)    // documentation
        || (s[0] == 0x3fff && s[1] < 0x1000)     // documentation, RFC 9637
        || (s[0] == 0x0100 && s[1..4] == [0; 3]) // discard-only
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64
        || (s[0] == 0x2001 && s[1] < 0x0200)) // IETF protocol assignments, Teredo
}

/// The DNS hook: the system resolver, then every address the policy does not permit is
/// dropped; a name left with none fails the connection.
pub struct GuardedResolver {
    pub policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if kept.is_empty() {
                let shown = found
                    .first()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                let err: Box<dyn std::error::Error + Send + Sync> = if found.is_empty() {
                    format!("{host} does not resolve").into()
                } else {
                    format!("{host} resolves to {shown}, not a permitted address (SSRF guard)")
                        .into()
                };
                return Err(err);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_purpose_addresses_are_not_public() {
        for s in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "::a9fe:a9fe",
        ] {
            assert!(!is_public(ip(s)), "{s}");
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(s)), "{s}");
        }
    }

    #[test]
    fn url_policy() {
        let strict = AddressPolicy::default();
        assert!(strict.check_url("https://issuer.example/jwks").is_ok());
        assert_eq!(
            strict.check_url("http://issuer.example/jwks"),
            Err(Refused::Scheme)
        );
        assert_eq!(
            strict.check_url("http://127.0.0.1:1/"),
            Err(Refused::Scheme)
        );
        assert_eq!(
            strict.check_url("https://169.254.169.254/latest/meta-data"),
            Err(Refused::Address(ip("169.254.169.254")))
        );
        assert_eq!(
            strict.check_url("https://[fd00:ec2::254]/"),
            Err(Refused::Address(ip("fd00:ec2::254")))
        );
        assert_eq!(
            strict.check_url("https://127.0.0.1/"),
            Err(Refused::Address(ip("127.0.0.1")))
        );
        assert_eq!(
            strict.check_url("https://user:pw@issuer.example/"),
            Err(Refused::UserInfo)
        );
        assert_eq!(strict.check_url("file:///etc/passwd"), Err(Refused::Scheme));

        let dev = AddressPolicy {
            allow_loopback: true,
            allowed: vec![],
        };
        assert!(dev.check_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(dev.check_url("http://localhost:8080/jwks").is_ok());
        assert!(dev.check_url("http://[::1]:8080/jwks").is_ok());
        assert_eq!(
            dev.check_url("http://issuer.example/"),
            Err(Refused::Scheme)
        );
        assert_eq!(
            dev.check_url("https://10.0.0.1/"),
            Err(Refused::Address(ip("10.0.0.1")))
        );

        let internal = AddressPolicy {
            allow_loopback: false,
            allowed: vec![IpNet::parse("10.0.0.0/8").unwrap()],
        };
        assert!(internal.check_url("https://10.2.3.4/jwks").is_ok());
        assert!(!internal.permits(ip("169.254.169.254")));
    }
}
