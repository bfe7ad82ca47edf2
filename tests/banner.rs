//! The banner against this machine's real addresses: bound to `0.0.0.0` it lists one URL per
//! non-loopback IPv4 address (as `ip -o addr` reports them) and then loopback; bound to `::`
//! the IPv6 global and unique-local ones (from `/proc/net/if_inet6`) in brackets too; `--qr`
//! prints a QR code that decodes (rqrr) to the first URL. Nothing here connects to any address
//! but loopback: the listed addresses are only compared.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};
use std::process::Command;

use common::{BIN, Server, eventually, random_file, run};

/// IPv4 addresses of this machine's interfaces, from `ip -o -4 addr`.
fn ipv4_addresses() -> Vec<IpAddr> {
    let out = run(Command::new("ip").args(["-o", "-4", "addr"]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3)?.split('/').next()?.parse().ok())
        .collect()
}

/// IPv6 addresses from `/proc/net/if_inet6` (32 hex digits, then index, prefix, scope, flags).
fn ipv6_addresses() -> Vec<(Ipv6Addr, u8)> {
    std::fs::read_to_string("/proc/net/if_inet6")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let hex = fields.next()?;
            let scope = u8::from_str_radix(fields.nth(2)?, 16).ok()?;
            let bits = u128::from_str_radix(hex, 16).ok()?;
            Some((Ipv6Addr::from(bits), scope))
        })
        .collect()
}

fn start(bind: &str, extra: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "film.mkv", 1000, 1);
    let mut cmd = Command::new(BIN);
    cmd.arg("--file")
        .arg(&path)
        .args(["--bind", bind, "--port", "0", "--no-digest"])
        .args(extra);
    (dir, Server::spawn(cmd))
}

/// The indented URL lines of the banner's address list (before "Resume ...").
fn listed(server: &Server) -> Vec<String> {
    eventually("the banner's client lines", || {
        server.banner().contains("aria2c")
    });
    let banner = server.banner();
    let block = banner
        .split("Resume an interrupted")
        .next()
        .unwrap_or_default();
    block
        .lines()
        .filter_map(|l| l.strip_prefix("  http://"))
        .map(|rest| rest.trim_end_matches("/film.mkv").to_string())
        .collect()
}

#[test]
fn all_ipv4_interfaces_are_listed_then_loopback() {
    let (_dir, server) = start("0.0.0.0", &[]);
    let port = server.addr.port();
    let mut want: Vec<String> = ipv4_addresses()
        .into_iter()
        .filter(|ip| !ip.is_loopback())
        .map(|ip| format!("{ip}:{port}"))
        .collect();
    want.push(format!("127.0.0.1:{port}"));
    let got = listed(&server);
    assert_eq!(
        got.iter().collect::<BTreeSet<_>>(),
        want.iter().collect::<BTreeSet<_>>(),
        "banner:\n{}",
        server.banner()
    );
    assert_eq!(
        got.last(),
        Some(&format!("127.0.0.1:{port}")),
        "loopback last"
    );
    // The client lines use the first URL.
    let first = &got[0];
    assert!(
        server
            .banner()
            .contains(&format!("wget -c 'http://{first}/film.mkv'"))
    );
}

#[test]
fn bound_to_all_ipv6_interfaces_the_global_and_unique_local_ones_are_listed_in_brackets() {
    if ipv6_addresses().is_empty() {
        eprintln!("no IPv6 on this machine; nothing to compare");
        return;
    }
    let (_dir, server) = start("::", &[]);
    let port = server.addr.port();
    let got: BTreeSet<String> = listed(&server).into_iter().collect();
    for (ip, scope) in ipv6_addresses() {
        let url = format!("[{ip}]:{port}");
        // Scope 0 is global (unique-local addresses have scope 0 too); 0x20 is link, 0x10 host.
        let wanted = scope == 0 || ip.is_loopback();
        assert_eq!(
            got.contains(&url),
            wanted,
            "{url} (scope {scope:#x}) in {got:?}"
        );
    }
    let dual = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").unwrap_or_default();
    if dual.trim() == "0" {
        for ip in ipv4_addresses() {
            assert!(
                got.contains(&format!("{ip}:{port}")),
                "{ip} (dual stack) in {got:?}"
            );
        }
    }
}

#[test]
fn the_qr_code_decodes_to_the_first_url() {
    let (_dir, server) = start("0.0.0.0", &["--qr"]);
    let first = listed(&server).remove(0);
    let url = format!("http://{first}/film.mkv");
    eventually("the QR code (or why not)", || {
        let banner = server.banner();
        banner.contains('█') || banner.contains("no QR code")
    });
    let banner = server.banner();
    if first.starts_with("127.") {
        assert!(banner.contains("no QR code"), "loopback only: {banner}");
        return;
    }
    let code: String = banner
        .lines()
        .skip_while(|l| *l != url)
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let grid = rangeserve::ops::qr::modules(&code);
    let (h, w) = (grid.len(), grid[0].len());
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w * 4, h * 4, |x, y| {
        if grid[y / 4][x / 4] { 0 } else { 255 }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in:\n{code}");
    assert_eq!(grids[0].decode().unwrap().1, url);
}
