//! Who a request comes from: account, IP address, payment fingerprint;
//! the IP networks limits group addresses by; rate-limit keys.

use super::LimitError;
use crate::ids::OwnerId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Printable ASCII other than braces (which would change a Redis Cluster
/// hash tag) and space.
fn plain(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}')
}

/// A rate-limit budget's name in the store, e.g.
/// `hold:ip:203.0.113.0/24`. [`crate::limits::RateLimiter`] builds them;
/// a caller may use its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LimitKey(pub String);

impl LimitKey {
    /// The longest key, in bytes.
    pub const MAX_BYTES: usize = 256;

    /// Checks the key: 1 to [`Self::MAX_BYTES`] bytes of printable ASCII,
    /// no braces.
    pub fn validate(&self) -> Result<(), LimitError> {
        if self.0.is_empty() {
            Err(LimitError::InvalidKey("a key is at least one byte"))
        } else if self.0.len() > Self::MAX_BYTES {
            Err(LimitError::InvalidKey("a key is at most 256 bytes"))
        } else if !plain(&self.0) {
            Err(LimitError::InvalidKey("a key is printable ASCII without spaces or braces"))
        } else {
            Ok(())
        }
    }
}

/// A payment method's fingerprint as the payment provider reports it (the
/// same card gives the same fingerprint across accounts).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PaymentFingerprint(String);

impl PaymentFingerprint {
    /// The longest fingerprint, in bytes.
    pub const MAX_BYTES: usize = 128;

    /// A fingerprint: 1 to [`Self::MAX_BYTES`] bytes of printable ASCII,
    /// no braces.
    ///
    /// Errors: `InvalidFingerprint`.
    pub fn new(s: impl Into<String>) -> Result<Self, LimitError> {
        let s = s.into();
        if s.is_empty() {
            Err(LimitError::InvalidFingerprint("a fingerprint is at least one byte"))
        } else if s.len() > Self::MAX_BYTES {
            Err(LimitError::InvalidFingerprint("a fingerprint is at most 128 bytes"))
        } else if !plain(&s) {
            Err(LimitError::InvalidFingerprint("a fingerprint is printable ASCII without spaces or braces"))
        } else {
            Ok(PaymentFingerprint(s))
        }
    }

    /// The fingerprint as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PaymentFingerprint {
    type Error = LimitError;
    fn try_from(s: String) -> Result<Self, LimitError> {
        Self::new(s)
    }
}

impl From<PaymentFingerprint> for String {
    fn from(f: PaymentFingerprint) -> String {
        f.0
    }
}

impl fmt::Display for PaymentFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IP network (CIDR): an address with its host bits zero and a prefix
/// length. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are IPv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

fn max_prefix(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from_bits(a.to_bits() & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from_bits(a.to_bits() & m))
        }
    }
}

impl IpNetwork {
    /// The network of `prefix` bits that contains `addr` (host bits
    /// cleared).
    ///
    /// Errors: `InvalidNetwork` for a prefix over 32 (IPv4) or 128 (IPv6).
    pub fn containing(addr: IpAddr, prefix: u8) -> Result<Self, LimitError> {
        let addr = addr.to_canonical();
        if prefix > max_prefix(&addr) {
            return Err(LimitError::InvalidNetwork(format!("/{prefix} is too long for {addr}")));
        }
        Ok(IpNetwork { addr: mask(addr, prefix), prefix })
    }

    /// The one-address network of `addr` (/32 or /128).
    pub fn host(addr: IpAddr) -> Self {
        let addr = addr.to_canonical();
        IpNetwork { prefix: max_prefix(&addr), addr }
    }

    /// The network's first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }

    /// Every network that contains `ip`, longest prefix first (/32 to /0,
    /// or /128 to /0): the candidates a blacklist check looks up.
    pub fn all_containing(ip: IpAddr) -> impl Iterator<Item = IpNetwork> {
        let ip = ip.to_canonical();
        (0..=max_prefix(&ip)).rev().map(move |p| IpNetwork { addr: mask(ip, p), prefix: p })
    }
}

impl FromStr for IpNetwork {
    type Err = LimitError;

    /// `a.b.c.d/n`, `x:y::/n`, or a bare address (a host network). Host
    /// bits must be zero: `10.0.0.1/24` is refused, since it is likely a
    /// typo for a host or for `10.0.0.0/24`.
    fn from_str(s: &str) -> Result<Self, LimitError> {
        let bad = || LimitError::InvalidNetwork(format!("{s:?} is not an address or a network in CIDR notation"));
        if s.len() > 64 {
            return Err(LimitError::InvalidNetwork("a network is at most 64 bytes".into()));
        }
        let (addr, prefix) = match s.split_once('/') {
            None => return s.parse::<IpAddr>().map(IpNetwork::host).map_err(|_| bad()),
            Some((a, p)) => (a.parse::<IpAddr>().map_err(|_| bad())?, p),
        };
        if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let net = IpNetwork::containing(addr, prefix)?;
        if net.addr != addr.to_canonical() {
            return Err(LimitError::InvalidNetwork(format!("{s} has host bits set (the network is {net})")));
        }
        Ok(net)
    }
}

impl TryFrom<String> for IpNetwork {
    type Error = LimitError;
    fn try_from(s: String) -> Result<Self, LimitError> {
        s.parse()
    }
}

impl From<IpNetwork> for String {
    fn from(n: IpNetwork) -> String {
        n.to_string()
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// How rate limits group IP addresses: every address of one network
/// shares a budget. By default each IPv4 address is its own (/32) and an
/// IPv6 address shares with its /64 (one subscriber's usual allocation,
/// within which an attacker picks addresses freely).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpGrouping {
    v4_prefix: u8,
    v6_prefix: u8,
}

impl Default for IpGrouping {
    fn default() -> Self {
        IpGrouping { v4_prefix: 32, v6_prefix: 64 }
    }
}

impl IpGrouping {
    /// Group IPv4 addresses by `v4_prefix` bits and IPv6 by `v6_prefix`.
    ///
    /// Errors: `InvalidNetwork` for a prefix over 32 or 128.
    pub fn new(v4_prefix: u8, v6_prefix: u8) -> Result<Self, LimitError> {
        if v4_prefix > 32 || v6_prefix > 128 {
            return Err(LimitError::InvalidNetwork(format!("grouping /{v4_prefix} (IPv4), /{v6_prefix} (IPv6)")));
        }
        Ok(IpGrouping { v4_prefix, v6_prefix })
    }

    /// The network whose budget `ip` spends.
    pub fn group(&self, ip: IpAddr) -> IpNetwork {
        let ip = ip.to_canonical();
        let prefix = if ip.is_ipv4() { self.v4_prefix } else { self.v6_prefix };
        IpNetwork { addr: mask(ip, prefix), prefix }
    }
}

/// Who a request comes from, as far as the application knows: the
/// signed-in account, the client's IP address (as the application's
/// trusted proxy reports it), the payment method's fingerprint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RequestIdentity {
    /// The account, once signed in.
    pub account: Option<OwnerId>,
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// The payment method's fingerprint, at checkout.
    pub fingerprint: Option<PaymentFingerprint>,
}

impl RequestIdentity {
    /// An identity with just an account.
    pub fn account(account: OwnerId) -> Self {
        RequestIdentity { account: Some(account), ..Self::default() }
    }

    /// With the client's IP address.
    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// With a payment fingerprint.
    pub fn with_fingerprint(mut self, fingerprint: PaymentFingerprint) -> Self {
        self.fingerprint = Some(fingerprint);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn networks_parse_canonically() {
        let n: IpNetwork = "203.0.113.0/24".parse().expect("v4");
        assert_eq!(n.to_string(), "203.0.113.0/24");
        assert!(n.contains(ip("203.0.113.200")) && !n.contains(ip("203.0.114.1")));
        assert!(n.contains(ip("::ffff:203.0.113.7")), "IPv4-mapped addresses are IPv4");
        let n: IpNetwork = "2001:DB8:0:0::/48".parse().expect("v6");
        assert_eq!(n.to_string(), "2001:db8::/48");
        assert!(n.contains(ip("2001:db8:0:ffff::1")) && !n.contains(ip("2001:db9::1")));
        assert!(!n.contains(ip("32.1.13.184")), "an IPv4 address is never in an IPv6 network");
        assert_eq!("10.0.0.1".parse::<IpNetwork>().expect("host").to_string(), "10.0.0.1/32");
        assert_eq!("0.0.0.0/0".parse::<IpNetwork>().expect("all").prefix(), 0);
        for bad in ["10.0.0.1/24", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/+8", "x/8", "", "10.0.0.0/08 "] {
            assert!(matches!(bad.parse::<IpNetwork>(), Err(LimitError::InvalidNetwork(_))), "{bad:?}");
        }
    }

    #[test]
    fn grouping_masks_by_family() {
        let g = IpGrouping::new(24, 64).expect("grouping");
        assert_eq!(g.group(ip("198.51.100.77")).to_string(), "198.51.100.0/24");
        assert_eq!(g.group(ip("2001:db8:1:2:3:4:5:6")).to_string(), "2001:db8:1:2::/64");
        assert_eq!(IpGrouping::default().group(ip("198.51.100.77")).to_string(), "198.51.100.77/32");
        assert!(IpGrouping::new(33, 64).is_err() && IpGrouping::new(32, 129).is_err());
        let all: Vec<String> = IpNetwork::all_containing(ip("10.1.2.3")).map(|n| n.to_string()).collect();
        assert_eq!((all.len(), all[0].as_str(), all[32].as_str()), (33, "10.1.2.3/32", "0.0.0.0/0"));
        assert_eq!(IpNetwork::all_containing(ip("::1")).count(), 129);
    }

    #[test]
    fn keys_and_fingerprints_are_checked() {
        assert!(LimitKey("a:b/24".into()).validate().is_ok());
        for bad in [String::new(), "x".repeat(257), "a b".into(), "a{b}".into(), "é".into(), "a\n".into()] {
            assert!(matches!(LimitKey(bad.clone()).validate(), Err(LimitError::InvalidKey(_))), "{bad:?}");
            assert!(matches!(PaymentFingerprint::new(bad.clone()), Err(LimitError::InvalidFingerprint(_))), "{bad:?}");
        }
        assert!(PaymentFingerprint::new("x".repeat(129)).is_err());
        assert_eq!(PaymentFingerprint::new("Xt5EWLLDS7FJjR1c").expect("fp").as_str(), "Xt5EWLLDS7FJjR1c");
    }
}
