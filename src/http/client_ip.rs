//! The client IP address of a request (S8): the TCP peer, unless the peer is one of the
//! configured `trusted_proxies`; then the rightmost address in `Forwarded: for=` (RFC 7239)
//! or, without that header, in `X-Forwarded-For` that is not itself a trusted proxy.
//! Headers from any other peer are ignored: anyone can write them.
//!
//! The result feeds the token, introspection and revocation rate limits and the login
//! throttle, so this is the one function that computes it.

use std::net::IpAddr;

use poem::{http::HeaderMap, web::RemoteAddr};

use crate::ip_net::{IpNet, canonical};

/// The `trusted_proxies` setting, parsed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDR networks (empty: none).
    pub fn parse(list: &str) -> Result<Self, String> {
        crate::ip_net::parse_list(list).map(Self)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client address of a request that came from `peer` with `headers`.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = canonical(peer?);
        if !self.contains(peer) {
            return Some(peer);
        }
        let hops = forwarded_hops(headers);
        // Right to left: each hop was appended by the proxy after it. The first address
        // that is not a trusted proxy is the client; anything left of it was written by
        // the client and proves nothing. A hop that is not an address ("unknown", an
        // obfuscated name, garbage) ends the walk at the last address we could trust.
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = hop.map(canonical) else {
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        Some(client)
    }
}

/// The `for=` addresses of every `Forwarded` header, in order; without any, the entries
/// of every `X-Forwarded-For` header. `None` marks an entry that is not an address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .map(|v| v.to_str().unwrap_or("for=unknown"))
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|line| line.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| parse_node(v))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("unknown").split(','))
        .map(parse_node)
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1`,
/// `[2001:db8::1]:443`, optionally in double quotes.
fn parse_node(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    // IPv4 with a port.
    let (host, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The client IP of a request: the handlers' one entry point.
pub fn client_ip(
    trusted: &TrustedProxies,
    remote: &RemoteAddr,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    trusted.client_ip(remote.as_socket_addr().map(|a| a.ip()), headers)
}

#[cfg(test)]
mod tests {
    use poem::http::{HeaderMap, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn networks_parse_and_match() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7,2001:db8::/32").unwrap();
        assert!(t.contains("10.1.2.3".parse().unwrap()));
        assert!(t.contains("192.0.2.7".parse().unwrap()));
        assert!(!t.contains("192.0.2.8".parse().unwrap()));
        assert!(t.contains("2001:db8:1::1".parse().unwrap()));
        assert!(t.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
        assert!(
            TrustedProxies::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }

    /// S8: headers count only from a trusted peer; the rightmost untrusted hop wins.
    #[test]
    fn s8_forwarded_headers_only_from_trusted_proxies() {
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let xff = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.2")]);
        // Untrusted peer: headers ignored.
        assert_eq!(t.client_ip(ip("198.51.100.1"), &xff), ip("198.51.100.1"));
        // Trusted peer: the rightmost address that is not a proxy.
        assert_eq!(t.client_ip(ip("10.0.0.1"), &xff), ip("203.0.113.9"));
        // No header: the peer.
        assert_eq!(
            t.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        // Forwarded wins over X-Forwarded-For, with ports, quotes and IPv6.
        let both = headers(&[
            (
                "forwarded",
                r#"for=1.1.1.1, for="[2001:db8::5]:4711";proto=https"#,
            ),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &both), ip("2001:db8::5"));
        let port = headers(&[("x-forwarded-for", "203.0.113.9:5555")]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &port), ip("203.0.113.9"));
        // A hop that is not an address stops the walk at the last trusted one.
        let unknown = headers(&[("x-forwarded-for", "1.1.1.1, unknown, 10.0.0.3")]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &unknown), ip("10.0.0.3"));
        // Every hop a proxy: the leftmost.
        let all = headers(&[("x-forwarded-for", "10.0.0.5, 10.0.0.3")]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &all), ip("10.0.0.5"));
        // Nothing trusted: never the header.
        let none = TrustedProxies::default();
        assert_eq!(none.client_ip(ip("10.0.0.1"), &xff), ip("10.0.0.1"));
    }
}
