//! Pure: who "one client" is, for every per-client limit (connections, rate, the lockout after
//! wrong credentials). An IPv4 address is one client. An IPv6 client is its /64: one home or
//! one host is given a whole /64 and picks addresses in it freely (privacy addresses rotate), so
//! counting single IPv6 addresses would let one machine take 2^64 shares. An IPv4 address seen
//! as IPv6 (`::ffff:a.b.c.d`, a dual-stack socket) is that IPv4 address.

use std::net::{IpAddr, Ipv6Addr};

/// The client `ip` belongs to: itself for IPv4, its /64 (the last 64 bits zero) for IPv6.
pub fn client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_their_64_and_ipv4_stays_itself() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            client(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            client(ip("2001:db8:1:2::9"))
        );
        assert_ne!(client(ip("2001:db8:1:3::1")), client(ip("2001:db8:1:2::1")));
        assert_eq!(client(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client(ip("::1")), ip("::"));
    }
}
