//! `--auth`: HTTP Basic authentication (RFC 7617). Pure: the configured credentials and a
//! request's `Authorization` value in, a verdict out; and the failure counter that turns more
//! than [`MAX_FAILURES`] wrong attempts from one address within a minute into a minute of 429.
//! Passwords are kept only as SHA-256 digests (`USER:sha256:HEX` gives the digest directly, so
//! the password need not appear in `ps` or the shell history); every comparison is constant-time
//! (`subtle`) and every configured credential is compared, so the time does not say which user
//! exists.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Wrong attempts allowed from one address within [`WINDOW`] before it is refused.
pub const MAX_FAILURES: usize = 10;
/// The window failures are counted in, and how long an address is then refused.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The `WWW-Authenticate` challenge.
pub const CHALLENGE: &str = "Basic realm=\"rangeserve\", charset=\"UTF-8\"";

/// One user and the SHA-256 of its password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub user: String,
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, …)", self.user)
    }
}

/// Parses `USER:PASSWORD` or `USER:sha256:HEX` (64 hex digits). The user may not be empty or
/// contain `:` (RFC 7617 §2).
pub fn parse_credential(text: &str) -> Result<Credential, String> {
    let (user, secret) = text
        .split_once(':')
        .ok_or("expected USER:PASSWORD or USER:sha256:HEX")?;
    if user.is_empty() {
        return Err("the user name is empty".into());
    }
    let sha256 = match secret.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 => {
            let mut digest = [0u8; 32];
            for (i, byte) in digest.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .map_err(|_| "sha256: needs 64 hex digits")?;
            }
            digest
        }
        Some(_) => return Err("sha256: needs 64 hex digits".into()),
        None => Sha256::digest(secret.as_bytes()).into(),
    };
    Ok(Credential {
        user: user.to_string(),
        sha256,
    })
}

/// What a request's credentials are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// They match this user.
    Allowed(String),
    /// None were sent (or not Basic): a challenge, not a failure.
    Missing,
    /// Sent and wrong (or malformed): a failure, counted.
    Wrong,
}

/// Checks an `Authorization` field value against the credentials.
pub fn check(credentials: &[Credential], authorization: Option<&[u8]>) -> Verdict {
    let Some(value) = authorization else {
        return Verdict::Missing;
    };
    let text = String::from_utf8_lossy(value);
    let mut words = text.trim().splitn(2, ' ');
    let scheme = words.next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("basic") {
        return Verdict::Missing;
    }
    let token = words.next().unwrap_or_default().trim();
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token) else {
        return Verdict::Wrong;
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return Verdict::Wrong;
    };
    let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
    let digest: [u8; 32] = Sha256::digest(password).into();
    let mut found: Option<&Credential> = None;
    for credential in credentials {
        let same_user = credential.user.as_bytes().ct_eq(user);
        let same_password = credential.sha256.ct_eq(&digest);
        if bool::from(same_user & same_password) && found.is_none() {
            found = Some(credential);
        }
    }
    match found {
        Some(credential) => Verdict::Allowed(credential.user.clone()),
        None => Verdict::Wrong,
    }
}

/// Wrong attempts per address.
#[derive(Debug, Default)]
pub struct Failures {
    by_address: HashMap<IpAddr, Record>,
    /// When each attempt stops counting (`WINDOW` after it), oldest first: what the expiry walks,
    /// so a failure costs O(1) amortized however many addresses are held.
    expiries: VecDeque<(Instant, IpAddr)>,
    /// The failures of the addresses the table had no room for, counted together: past the
    /// limit, all of them are refused (many addresses cannot guess without a limit).
    overflow: Record,
}

/// Addresses remembered at most: past it the oldest is forgotten (an attacker with many
/// addresses cannot make the table grow without end; each address still gets its own limit).
pub const MAX_ADDRESSES: usize = 65_536;

#[derive(Debug, Default)]
struct Record {
    recent: Vec<Instant>,
    refused_until: Option<Instant>,
}

impl Record {
    fn stale(&self, now: Instant) -> bool {
        self.recent
            .last()
            .is_none_or(|t| now.duration_since(*t) >= WINDOW)
            && self.refused_until.is_none_or(|u| u <= now)
    }
}

impl Failures {
    /// How long `ip` is still refused, if it is.
    pub fn refused_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = match self.by_address.get(&ip) {
            Some(record) => record.refused_until?,
            // Not held: refused while the addresses without room are.
            None => self.overflow.refused_until?,
        };
        (until > now).then(|| until - now)
    }

    /// Counts a wrong attempt; returns how long the address is now refused, if the attempt
    /// crossed the limit.
    pub fn record(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        self.expire(now);
        let record = if self.by_address.len() >= MAX_ADDRESSES
            && !self.by_address.contains_key(&ip)
            && !self.evict_one(now)
        {
            // Every address held is refused: this one counts with the others without room.
            &mut self.overflow
        } else {
            self.by_address.entry(ip).or_default()
        };
        record.recent.retain(|t| now.duration_since(*t) < WINDOW);
        record.recent.push(now);
        let refused = if record.recent.len() > MAX_FAILURES {
            record.refused_until = Some(now + WINDOW);
            record.recent.clear();
            Some(WINDOW)
        } else {
            None
        };
        self.expiries.push_back((now + WINDOW, ip));
        refused
    }

    /// How many of the oldest expiries one eviction looks at for an address not refused.
    const EVICTION_SCAN: usize = 64;

    /// Forgets the address with the oldest attempt that is not refused now (a refused one is
    /// never forgotten before its refusal ends: its expiry goes back in line for then). Looks at
    /// most at [`Failures::EVICTION_SCAN`] entries; `false` if none could go.
    fn evict_one(&mut self, now: Instant) -> bool {
        for _ in 0..Self::EVICTION_SCAN {
            let Some((_, ip)) = self.expiries.pop_front() else {
                return false;
            };
            if let Some(record) = self.by_address.get(&ip) {
                match record.refused_until {
                    Some(until) if until > now => self.expiries.push_back((until, ip)),
                    _ => {
                        self.by_address.remove(&ip);
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Forgets the addresses whose attempts and refusal are all over.
    fn expire(&mut self, now: Instant) {
        while let Some(&(at, ip)) = self.expiries.front() {
            if at > now {
                break;
            }
            self.expiries.pop_front();
            if self.by_address.get(&ip).is_some_and(|r| r.stale(now)) {
                self.by_address.remove(&ip);
            }
        }
    }

    /// Addresses remembered now.
    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }
}

/// `Retry-After` seconds for a refusal of `d` (rounded up, at least 1).
pub fn retry_after(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn basic(user_password: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
        .into_bytes()
    }

    fn creds() -> Vec<Credential> {
        vec![
            parse_credential("alice:wonder land").unwrap(),
            parse_credential(&format!(
                "bob:sha256:{}",
                crate::http::format::hex(&Sha256::digest(b"b0b"))
            ))
            .unwrap(),
        ]
    }

    #[test]
    fn credentials_parse_in_both_forms() {
        assert_eq!(creds()[0].user, "alice");
        assert_eq!(creds()[1].sha256, <[u8; 32]>::from(Sha256::digest(b"b0b")));
        assert_eq!(
            parse_credential("u:p:q").unwrap().sha256,
            <[u8; 32]>::from(Sha256::digest(b"p:q"))
        );
        for bad in [
            "nocolon",
            ":pw",
            "u:sha256:abc",
            &format!("u:sha256:{}", "g".repeat(64)),
        ] {
            assert!(parse_credential(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_right_pair_is_allowed_and_anything_else_is_not() {
        let c = creds();
        assert_eq!(
            check(&c, Some(&basic("alice:wonder land"))),
            Verdict::Allowed("alice".into())
        );
        assert_eq!(
            check(&c, Some(&basic("bob:b0b"))),
            Verdict::Allowed("bob".into())
        );
        assert_eq!(
            check(&c, Some(b"basic Ym9iOmIwYg==")),
            Verdict::Allowed("bob".into()),
            "scheme case-insensitive"
        );
        for wrong in [
            "alice:wonder",
            "bob:wonder land",
            "carol:b0b",
            "alice:",
            ":b0b",
        ] {
            assert_eq!(check(&c, Some(&basic(wrong))), Verdict::Wrong, "{wrong}");
        }
        assert_eq!(check(&c, Some(b"Basic !!!")), Verdict::Wrong);
        assert_eq!(check(&c, Some(&basic("nocolon"))), Verdict::Wrong);
        assert_eq!(check(&c, None), Verdict::Missing);
        assert_eq!(check(&c, Some(b"Bearer abc")), Verdict::Missing);
    }

    #[test]
    fn more_than_ten_failures_in_a_minute_refuse_the_address_for_a_minute() {
        let mut failures = Failures::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert_eq!(
                failures.record(ip, t0 + Duration::from_secs(i as u64)),
                None
            );
        }
        assert_eq!(failures.refused_for(ip, t0 + Duration::from_secs(10)), None);
        let crossed = t0 + Duration::from_secs(11);
        assert_eq!(failures.record(ip, crossed), Some(WINDOW));
        assert_eq!(
            failures.refused_for(ip, crossed + Duration::from_secs(30)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            failures.refused_for("10.0.0.2".parse().unwrap(), crossed),
            None,
            "per address"
        );
        assert_eq!(failures.refused_for(ip, crossed + WINDOW), None);
        // Failures spread over more than a minute never add up.
        let mut slow = Failures::default();
        for i in 0..100u64 {
            assert_eq!(slow.record(ip, t0 + Duration::from_secs(i * 7)), None);
        }
        assert_eq!(retry_after(Duration::from_millis(59_001)), 60);
    }

    proptest! {
        #[test]
        fn no_other_password_is_allowed(password in ".{0,40}") {
            prop_assume!(password != "wonder land");
            let verdict = check(&creds(), Some(&basic(&format!("alice:{password}"))));
            prop_assert_eq!(verdict, Verdict::Wrong);
        }
    }

    #[test]
    fn the_failure_table_forgets_stale_addresses_and_stays_bounded() {
        let mut failures = Failures::default();
        let t0 = Instant::now();
        for n in 0..(MAX_ADDRESSES as u32 + 5_000) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            failures.record(ip, t0);
            assert!(failures.len() <= MAX_ADDRESSES);
        }
        // A minute on, one more failure forgets every stale address.
        let later = t0 + WINDOW + Duration::from_secs(1);
        failures.record("192.0.2.1".parse().unwrap(), later);
        assert_eq!(failures.len(), 1);
        // A refused address is remembered for its whole refusal.
        let ip: IpAddr = "192.0.2.2".parse().unwrap();
        for i in 0..=MAX_FAILURES {
            failures.record(ip, later + Duration::from_millis(i as u64));
        }
        let refused_at = later + Duration::from_millis(MAX_FAILURES as u64);
        failures.record("192.0.2.3".parse().unwrap(), refused_at + WINDOW / 2);
        assert!(failures.refused_for(ip, refused_at + WINDOW / 2).is_some());
        // Even a flood of new addresses cannot make it forget a refused one early.
        let flood = refused_at + WINDOW / 2;
        for n in 0..(MAX_ADDRESSES as u32 + 100) {
            failures.record(
                IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000 + n)),
                flood,
            );
        }
        assert!(failures.len() <= MAX_ADDRESSES);
        assert!(failures.refused_for(ip, flood).is_some());
    }

    #[test]
    fn addresses_without_room_share_one_limit() {
        let mut failures = Failures::default();
        let t0 = Instant::now();
        // Every held address refused.
        for n in 0..MAX_ADDRESSES as u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            for _ in 0..=MAX_FAILURES {
                failures.record(ip, t0);
            }
        }
        assert_eq!(failures.len(), MAX_ADDRESSES);
        // Fresh addresses, one failure each: together they cross the limit.
        let fresh = |n: u32| IpAddr::from(std::net::Ipv4Addr::from(0xc000_0200 + n));
        for n in 0..MAX_FAILURES as u32 {
            assert_eq!(failures.record(fresh(n), t0), None);
        }
        assert_eq!(failures.refused_for(fresh(99), t0), None);
        assert_eq!(
            failures.record(fresh(MAX_FAILURES as u32), t0),
            Some(WINDOW)
        );
        assert!(failures.refused_for(fresh(99), t0).is_some());
        assert!(failures.len() <= MAX_ADDRESSES);
    }
}
