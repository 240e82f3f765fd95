//! Who the client is: the TCP peer's address, or, when the peer is a trusted proxy
//! (`serve --trusted-proxy <CIDR>…`), the address that proxy reports. The failed-auth limiter,
//! auth events and the request log all use this one address.
//!
//! Behind trusted proxies the forwarding header is read from the right (the hop nearest to
//! us) to the left, skipping addresses that are themselves trusted proxies; the first
//! address that is not trusted is the client. Everything left of it was written by the
//! client or by proxies we do not trust, so it is never believed. Only ONE header is read,
//! the one the proxies are configured to write (`--trusted-proxy-header`, default
//! `X-Forwarded-For`): a proxy that appends to one header passes the other one through
//! untouched, so reading the other would let a client choose its own address.
//!
//! Pure parsing over `std::net` and header values; no I/O.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;

/// A network, `10.0.0.0/8` or `2001:db8::/32`; a bare address is a single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

/// Why a CIDR did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not an IP address before the `/`.
    #[error("`{0}` is not an IP address or network (e.g. 10.0.0.0/8, 192.0.2.7, fd00::/8)")]
    Address(String),
    /// The prefix length is not a number within the family's bits.
    #[error("`{0}`: the prefix length must be 0-32 for IPv4 and 0-128 for IPv6")]
    Prefix(String),
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn width(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

/// The network bits of a `width`-bit address with this prefix.
fn mask(prefix: u8, width: u8) -> u128 {
    let host = u32::from(width.saturating_sub(prefix));
    let full = if width == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    if host >= 128 {
        0
    } else {
        full & !((1u128 << host) - 1)
    }
}

impl Cidr {
    /// Whether `ip` is inside the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if ip.is_ipv4() != self.net.is_ipv4() {
            return false;
        }
        let m = mask(self.prefix, width(ip));
        bits(ip) & m == bits(self.net) & m
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net = addr
            .parse::<IpAddr>()
            .map_err(|_| CidrError::Address(s.to_owned()))?
            .to_canonical();
        let w = width(net);
        let prefix = match prefix {
            None => w,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= w)
                .ok_or_else(|| CidrError::Prefix(s.to_owned()))?,
        };
        Ok(Cidr { net, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// Which forwarding header the trusted proxies write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// The trusted proxies and the header they write. Empty: the peer is always the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<Cidr>,
    header: ForwardedHeader,
}

/// One hop of a forwarding header: an address, or something that is none (`unknown`, an
/// obfuscated `_name`, garbage).
type Hop = Option<IpAddr>;

/// An address as proxies write it: `192.0.2.7`, `192.0.2.7:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`, quoted or not.
fn parse_hop(raw: &str) -> Hop {
    let v = raw.trim().trim_matches('"').trim();
    let host = if let Some(rest) = v.strip_prefix('[') {
        rest.split(']').next()?
    } else if v.matches(':').count() == 1 {
        v.split(':').next()?
    } else {
        v
    };
    host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// Split on `sep` outside double quotes.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

/// The hops of every `X-Forwarded-For` line, left to right (empty entries skipped).
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Hop> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        // A line that is not text is one hop that is not an address.
        .flat_map(|v| {
            v.to_str()
                .map_or_else(|_| vec!["?"], |s| s.split(',').collect())
        })
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_hop)
        .collect()
}

/// The `for=` of every `Forwarded` element, left to right; an element without `for=` is a
/// hop that did not say (RFC 7239 §5.2).
fn forwarded(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for line in headers.get_all("forwarded") {
        let Ok(line) = line.to_str() else {
            hops.push(None);
            continue;
        };
        for element in split_unquoted(line, ',') {
            if element.trim().is_empty() {
                continue;
            }
            let hop = split_unquoted(element, ';')
                .into_iter()
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, v)| parse_hop(v));
            hops.push(hop);
        }
    }
    hops
}

impl TrustedProxies {
    /// Trust these networks, reading `header`.
    pub fn new(nets: Vec<Cidr>, header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies { nets, header }
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// The client of a request from `peer` with these headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => x_forwarded_for(headers),
            ForwardedHeader::Forwarded => forwarded(headers),
        };
        // Walk towards the client while the hops are our own proxies. A hop that is not an
        // address stops the walk at the proxy that reported it.
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) => {
                    client = *ip;
                    if !self.trusts(*ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn cidr(s: &str) -> Cidr {
        s.parse().expect("cidr")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn cidrs_parse_and_contain() {
        assert!(cidr("10.0.0.0/8").contains(ip("10.200.1.2")));
        assert!(!cidr("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(cidr("192.0.2.7").contains(ip("192.0.2.7")));
        assert!(!cidr("192.0.2.7").contains(ip("192.0.2.8")));
        assert!(cidr("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(!cidr("0.0.0.0/0").contains(ip("::1")));
        assert!(cidr("fd00::/8").contains(ip("fd12::1")));
        assert!(cidr("::/0").contains(ip("2001:db8::1")));
        assert!(cidr("2001:db8::/127").contains(ip("2001:db8::1")));
        assert!(!cidr("2001:db8::/128").contains(ip("2001:db8::1")));
        // Host bits are ignored; IPv4-mapped IPv6 is IPv4.
        assert!(cidr("10.1.2.3/8").contains(ip("10.9.9.9")));
        assert!(cidr("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "10.0.0.0/x",
            "host/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(cidr("10.1.2.3/8").to_string(), "10.1.2.3/8");
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let none = TrustedProxies::default();
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        assert_eq!(none.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        let some = TrustedProxies::new(vec![cidr("10.0.0.0/8")], ForwardedHeader::default());
        assert_eq!(some.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let p = TrustedProxies::new(
            vec![cidr("10.0.0.0/8"), cidr("fd00::/8")],
            ForwardedHeader::XForwardedFor,
        );
        let peer = ip("10.0.0.1");
        let cases: &[(&[(&'static str, &str)], &str)] = &[
            // No header: the proxy itself.
            (&[], "10.0.0.1"),
            (&[("x-forwarded-for", "203.0.113.9")], "203.0.113.9"),
            // A client-supplied entry on the left is never believed.
            (
                &[("x-forwarded-for", "1.1.1.1, 203.0.113.9")],
                "203.0.113.9",
            ),
            // Our own proxies on the right are skipped.
            (
                &[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.1.1.1, fd00::2")],
                "203.0.113.9",
            ),
            // Several header lines are one list.
            (
                &[
                    ("x-forwarded-for", "1.1.1.1"),
                    ("x-forwarded-for", "203.0.113.9, 10.1.1.1"),
                ],
                "203.0.113.9",
            ),
            // Ports and brackets.
            (&[("x-forwarded-for", "203.0.113.9:4711")], "203.0.113.9"),
            (&[("x-forwarded-for", "[2001:db8::7]:4711")], "2001:db8::7"),
            (&[("x-forwarded-for", "2001:db8::7")], "2001:db8::7"),
            // Garbage stops at the proxy that reported it.
            (&[("x-forwarded-for", "1.1.1.1, nonsense")], "10.0.0.1"),
            (
                &[("x-forwarded-for", "1.1.1.1, nonsense, 10.2.2.2")],
                "10.2.2.2",
            ),
            // Only proxies: the farthest one.
            (&[("x-forwarded-for", "10.3.3.3, 10.2.2.2")], "10.3.3.3"),
            // The other header is not read.
            (&[("forwarded", "for=203.0.113.9")], "10.0.0.1"),
        ];
        for (h, want) in cases {
            assert_eq!(p.client(peer, &headers(h)), ip(want), "{h:?}");
        }
    }

    #[test]
    fn rfc_7239_forwarded() {
        let p = TrustedProxies::new(vec![cidr("10.0.0.0/8")], ForwardedHeader::Forwarded);
        let peer = ip("10.0.0.1");
        let cases: &[(&str, &str)] = &[
            ("for=203.0.113.9", "203.0.113.9"),
            ("For=\"203.0.113.9:47011\";proto=https", "203.0.113.9"),
            ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            ("for=1.1.1.1, for=203.0.113.9;by=10.0.0.1", "203.0.113.9"),
            ("for=203.0.113.9, for=10.5.5.5", "203.0.113.9"),
            ("for=1.1.1.1, for=unknown", "10.0.0.1"),
            ("for=1.1.1.1, for=_hidden", "10.0.0.1"),
            ("for=1.1.1.1, proto=https", "10.0.0.1"),
            ("by=\"a,b\";for=203.0.113.9", "203.0.113.9"),
        ];
        for (v, want) in cases {
            assert_eq!(
                p.client(peer, &headers(&[("forwarded", v)])),
                ip(want),
                "{v}"
            );
        }
        // X-Forwarded-For is not read when the proxies write Forwarded.
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(p.client(peer, &h), peer);
    }
}
