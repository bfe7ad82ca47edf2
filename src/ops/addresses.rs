//! The addresses the banner offers. Bound to one address, that one; bound to an unspecified
//! address (`0.0.0.0`, `::`), one per interface address that can be reached from elsewhere —
//! IPv4, and IPv6 global or unique-local (in brackets); link-local IPv6 needs a zone that a URL
//! cannot carry portably — then loopback last, so the first is the one to give to another
//! machine. Pure: the interface list is read by the caller.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What an unspecified bind reaches: `dual_stack` says whether a `::` socket also accepts IPv4
/// (Linux: `net.ipv6.bindv6only` = 0, the default).
pub fn reachable(local: SocketAddr, interfaces: &[IpAddr], dual_stack: bool) -> Vec<SocketAddr> {
    let port = local.port();
    let (v4, v6) = match local.ip() {
        ip if !ip.is_unspecified() => return vec![local],
        IpAddr::V4(_) => (true, false),
        IpAddr::V6(_) => (dual_stack, true),
    };
    let mut out: Vec<SocketAddr> = Vec::new();
    let mut push = |ip: IpAddr| {
        let addr = SocketAddr::new(ip, port);
        if !out.contains(&addr) {
            out.push(addr);
        }
    };
    for &ip in interfaces {
        match ip {
            IpAddr::V6(ip6) if v6 && is_global_or_unique_local(&ip6) => push(ip),
            IpAddr::V4(ip4) if v4 && !ip4.is_loopback() && !ip4.is_unspecified() => push(ip),
            _ => {}
        }
    }
    if v6 {
        push(IpAddr::V6(Ipv6Addr::LOCALHOST));
    }
    if v4 {
        push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    out
}

/// Not loopback, unspecified, link-local (fe80::/10), multicast, or an IPv4-mapped address.
fn is_global_or_unique_local(ip: &Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !ip.is_loopback()
        && !ip.is_unspecified()
        && !ip.is_multicast()
        && (first & 0xffc0) != 0xfe80
        && ip.to_ipv4_mapped().is_none()
}

/// Whether a `::` listener also takes IPv4 here (reads `/proc/sys/net/ipv6/bindv6only`).
pub fn dual_stack() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only")
        .map(|v| v.trim() == "0")
        .unwrap_or(true)
}

/// This machine's interface addresses (none if they cannot be listed).
pub fn interfaces() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(list) => list.iter().map(|i| i.ip()).collect(),
        Err(err) => {
            tracing::warn!("cannot list this machine's addresses: {err}");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    const MACHINE: &[&str] = &[
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.9",
        "::1",
        "fe80::1",
        "2001:db8::7",
        "fd12::3",
    ];

    #[test]
    fn a_specific_bind_is_the_only_address() {
        let local = "10.1.2.3:8000".parse().unwrap();
        assert_eq!(reachable(local, &ips(MACHINE), true), vec![local]);
    }

    #[test]
    fn all_ipv4_interfaces_then_loopback() {
        let got = reachable("0.0.0.0:8000".parse().unwrap(), &ips(MACHINE), true);
        assert_eq!(
            got,
            addrs(&["10.1.2.3:8000", "192.168.0.9:8000", "127.0.0.1:8000"])
        );
    }

    #[test]
    fn all_ipv6_interfaces_global_and_unique_local_then_ipv4_if_dual_stack() {
        let got = reachable("[::]:80".parse().unwrap(), &ips(MACHINE), true);
        assert_eq!(
            got,
            addrs(&[
                "10.1.2.3:80",
                "192.168.0.9:80",
                "[2001:db8::7]:80",
                "[fd12::3]:80",
                "[::1]:80",
                "127.0.0.1:80"
            ])
        );
        let v6only = reachable("[::]:80".parse().unwrap(), &ips(MACHINE), false);
        assert_eq!(
            v6only,
            addrs(&["[2001:db8::7]:80", "[fd12::3]:80", "[::1]:80"])
        );
    }

    #[test]
    fn a_machine_with_only_loopback_offers_loopback() {
        let got = reachable(
            "0.0.0.0:1".parse().unwrap(),
            &ips(&["127.0.0.1", "::1"]),
            true,
        );
        assert_eq!(got, addrs(&["127.0.0.1:1"]));
    }
}
