//! The client's address behind a reverse proxy (`[web] trusted_proxies`): pure, no I/O.
//!
//! Login and registration throttling count failures per client address. Behind nginx, Caddy or
//! a load balancer every request comes from the proxy, so one student's typos would slow every
//! student down and an attacker's guesses would hide among everyone's. A proxy says whom it
//! relays for by appending its peer's address to `X-Forwarded-For`; everything to the left of
//! that comes from the client and may be invented. [`TrustedProxies::client`] therefore walks
//! the header from the right, over the hops it trusts, and takes the first address it does not
//! trust: the one a trusted proxy saw connecting. Only a peer in the list is asked at all, so
//! with the default empty list the header is ignored and the TCP peer is the client.
//!
//! ```
//! use std::net::IpAddr;
//! use axum::http::HeaderMap;
//! use web::TrustedProxies;
//!
//! let proxies = TrustedProxies::parse(["127.0.0.1", "10.89.0.0/16"]).unwrap();
//! let mut headers = HeaderMap::new();
//! headers.insert("x-forwarded-for", "192.0.2.1, 203.0.113.7, 10.89.0.4".parse().unwrap());
//! let peer: IpAddr = "127.0.0.1".parse().unwrap();
//! assert_eq!(proxies.client(peer, &headers), "203.0.113.7".parse::<IpAddr>().unwrap());
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;

/// The header proxies append their peer's address to.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// A `[web] trusted_proxies` entry that names no address or prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidProxy {
    /// Neither an address nor `address/length`.
    #[error(
        "{0:?} is not an IP address or a CIDR prefix: write an address such as 127.0.0.1 or a \
         prefix such as 10.89.0.0/16"
    )]
    Syntax(String),
    /// The length is longer than the address.
    #[error("{entry:?} has a prefix length over {max}: an {family} prefix is at most /{max}")]
    Length {
        /// The entry as written.
        entry: String,
        /// 32 or 128.
        max: u8,
        /// "IPv4" or "IPv6".
        family: &'static str,
    },
    /// Bits are set past the prefix length, so the entry says more than the prefix would match.
    #[error("{entry:?} has bits set past its prefix length: write {network}/{len}")]
    HostBits {
        /// The entry as written.
        entry: String,
        /// The entry's address with the extra bits cleared.
        network: IpAddr,
        /// The prefix length.
        len: u8,
    },
}

/// One trusted address range. Both are kept in canonical form (an IPv4-mapped IPv6 prefix as
/// IPv4) so that a proxy is recognised however a dual-stack socket reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Prefix {
    network: IpAddr,
    len: u8,
}

impl Prefix {
    fn parse(entry: &str) -> Result<Prefix, InvalidProxy> {
        let text = entry.trim();
        let (address, len) = match text.split_once('/') {
            Some((address, len)) => (address, Some(len)),
            None => (text, None),
        };
        let syntax = || InvalidProxy::Syntax(entry.to_string());
        let address: IpAddr = address.parse().map_err(|_| syntax())?;
        let (max, family) = match address {
            IpAddr::V4(_) => (32, "IPv4"),
            IpAddr::V6(_) => (128, "IPv6"),
        };
        let len = match len {
            None => max,
            // Digits only: `u8::from_str` would also take "+8".
            Some(len) if !len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()) => {
                len.parse().unwrap_or(u8::MAX)
            }
            Some(_) => return Err(syntax()),
        };
        if len > max {
            return Err(InvalidProxy::Length {
                entry: entry.to_string(),
                max,
                family,
            });
        }
        let network = mask(address, len);
        if network != address {
            return Err(InvalidProxy::HostBits {
                entry: entry.to_string(),
                network,
                len,
            });
        }
        Ok(match network {
            IpAddr::V6(v6) if len >= 96 && v6.to_ipv4_mapped().is_some() => Prefix {
                network: network.to_canonical(),
                len: len - 96,
            },
            _ => Prefix { network, len },
        })
    }

    /// Whether `address` (canonical) lies in this range.
    fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(address, self.len) == self.network
            }
            _ => false,
        }
    }
}

/// `address` with every bit past the first `len` cleared.
fn mask(address: IpAddr, len: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & bits))
        }
        IpAddr::V6(v6) => {
            let bits = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & bits))
        }
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed. Empty (the default) believes no one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Prefix>);

impl TrustedProxies {
    /// Trusts no proxy: the TCP peer is always the client.
    pub fn none() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// Parses addresses (`127.0.0.1`, `::1`) and CIDR prefixes (`10.89.0.0/16`, `fd00::/8`).
    /// The first entry that is neither is the error.
    pub fn parse<I>(entries: I) -> Result<TrustedProxies, InvalidProxy>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let prefixes = entries
            .into_iter()
            .map(|entry| Prefix::parse(entry.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies(prefixes))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `address` is one of the trusted proxies.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|prefix| prefix.contains(address))
    }

    /// The client of a request that arrived from `peer` with `headers`.
    ///
    /// From an untrusted peer, the peer. From a trusted one, `X-Forwarded-For` (all its lines, in
    /// order, as one list) is walked from the right, skipping trusted hops; the first entry
    /// that is not trusted is the client. An entry that is not an address (`unknown`, an
    /// obfuscated name, garbage) ends the walk, and the last trusted hop, or the peer, counts:
    /// anything left of it was written by someone no trusted proxy vouches for. When every hop
    /// is trusted, the leftmost is the client.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        for line in headers.get_all(X_FORWARDED_FOR).iter().rev() {
            let Ok(line) = line.to_str() else {
                return client;
            };
            for entry in line.rsplit(',') {
                let Some(hop) = forwarded_address(entry) else {
                    return client;
                };
                if !self.contains(hop) {
                    return hop;
                }
                client = hop;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry as an address. Besides the bare address nginx and Caddy write,
/// some load balancers add the port (`192.0.2.1:41234`, `[2001:db8::1]:41234`) or brackets.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim_matches([' ', '\t']);
    if let Ok(address) = entry.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusting(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(entries).unwrap()
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    #[test]
    fn addresses_and_prefixes_parse() {
        let proxies = trusting(&[
            "127.0.0.1",
            " 10.89.0.0/16 ",
            "::1",
            "fd00::/8",
            "0.0.0.0/0",
        ]);
        assert_eq!(proxies.0.len(), 5);
        assert!(trusting(&[]).is_empty());
        assert!(TrustedProxies::none().is_empty());
    }

    #[test]
    fn entries_that_are_not_prefixes_are_refused_with_a_fix() {
        for bad in [
            "",
            "proxy",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "10.0.0.0/x",
            "10.0.0",
        ] {
            let err = TrustedProxies::parse([bad]).unwrap_err();
            assert_eq!(err, InvalidProxy::Syntax(bad.into()), "{bad:?}");
            assert!(err.to_string().contains("10.89.0.0/16"), "{err}");
        }
        let err = TrustedProxies::parse(["10.0.0.0/33"]).unwrap_err();
        assert!(err.to_string().contains("at most /32"), "{err}");
        let err = TrustedProxies::parse(["fd00::/129"]).unwrap_err();
        assert!(err.to_string().contains("at most /128"), "{err}");
        let err = TrustedProxies::parse(["127.0.0.1", "10.89.0.1/16"]).unwrap_err();
        assert!(err.to_string().contains("write 10.89.0.0/16"), "{err}");
    }

    #[test]
    fn membership_follows_the_prefix_length() {
        let proxies = trusting(&["10.89.0.0/16", "192.0.2.7", "fd00::/8"]);
        for inside in [
            "10.89.0.1",
            "10.89.255.255",
            "192.0.2.7",
            "fd12::1",
            "::ffff:10.89.3.4",
        ] {
            assert!(proxies.contains(ip(inside)), "{inside}");
        }
        for outside in ["10.90.0.1", "192.0.2.8", "fe80::1", "127.0.0.1", "::1"] {
            assert!(!proxies.contains(ip(outside)), "{outside}");
        }
        let everyone = trusting(&["0.0.0.0/0", "::/0"]);
        assert!(everyone.contains(ip("198.51.100.1")) && everyone.contains(ip("2001:db8::1")));
    }

    #[test]
    fn an_ipv4_mapped_prefix_matches_plain_ipv4() {
        let proxies = trusting(&["::ffff:10.89.0.0/112"]);
        assert!(proxies.contains(ip("10.89.4.5")));
        assert!(proxies.contains(ip("::ffff:10.89.4.5")));
        assert!(!proxies.contains(ip("10.90.0.1")));
    }

    #[test]
    fn an_untrusted_peers_header_is_ignored() {
        let headers = forwarded(&["203.0.113.7"]);
        assert_eq!(
            TrustedProxies::none().client(ip("127.0.0.1"), &headers),
            ip("127.0.0.1")
        );
        let proxies = trusting(&["10.89.0.0/16"]);
        assert_eq!(proxies.client(ip("10.90.0.1"), &headers), ip("10.90.0.1"));
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        let proxies = trusting(&["127.0.0.1"]);
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let proxies = trusting(&["127.0.0.1", "10.89.0.0/16"]);
        let peer = ip("127.0.0.1");
        for (lines, client) in [
            (&["203.0.113.7"][..], "203.0.113.7"),
            (&["203.0.113.7, 10.89.0.4"], "203.0.113.7"),
            // Entries a client wrote itself, left of what the proxy appended, do not count.
            (&["127.0.0.1, 192.0.2.1, 203.0.113.7"], "203.0.113.7"),
            (&["192.0.2.1,203.0.113.7 ,\t10.89.0.4"], "203.0.113.7"),
            // Several header lines are one list, in order.
            (&["192.0.2.1, 203.0.113.7", "10.89.0.4"], "203.0.113.7"),
            (&["2001:db8::7", "10.89.0.4, 127.0.0.1"], "2001:db8::7"),
            // Ports and brackets some load balancers add.
            (&["203.0.113.7:41234"], "203.0.113.7"),
            (&["[2001:db8::7]:41234"], "2001:db8::7"),
            (&["[2001:db8::7]"], "2001:db8::7"),
            // Every hop trusted: the leftmost is as far as anyone vouches.
            (&["10.89.0.9, 10.89.0.4"], "10.89.0.9"),
        ] {
            assert_eq!(
                proxies.client(peer, &forwarded(lines)),
                ip(client),
                "{lines:?}"
            );
        }
    }

    #[test]
    fn a_malformed_entry_ends_the_walk_at_the_last_trusted_hop() {
        let proxies = trusting(&["127.0.0.1", "10.89.0.0/16"]);
        let peer = ip("127.0.0.1");
        for (lines, client) in [
            (&["unknown"][..], "127.0.0.1"),
            (&[""], "127.0.0.1"),
            (&["203.0.113.7, junk"], "127.0.0.1"),
            (&["203.0.113.7, junk, 10.89.0.4"], "10.89.0.4"),
            (&["203.0.113.7,, 10.89.0.4"], "10.89.0.4"),
            (&["203.0.113.7", "_hidden, 10.89.0.4"], "10.89.0.4"),
            (&["fe80::1%eth0"], "127.0.0.1"),
        ] {
            assert_eq!(
                proxies.client(peer, &forwarded(lines)),
                ip(client),
                "{lines:?}"
            );
        }
        // A line that is not even text.
        let mut headers = forwarded(&["203.0.113.7"]);
        headers.append(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"10.89.0.4 \xff").unwrap(),
        );
        assert_eq!(proxies.client(peer, &headers), peer);
    }
}
