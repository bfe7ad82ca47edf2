//! `--auth` and `--auth-file`: HTTP Basic authentication (RFC 7617). Pure: the configured
//! credentials and a request's `Authorization` value in, a verdict out; the memory of recent
//! successful bcrypt checks; and the failure counter that turns more than [`MAX_FAILURES`]
//! wrong attempts for one user name from one client within a minute into a minute of 429 for
//! that user name from that client (a client is an address, an IPv6 /64: `share::client`).
//!
//! `--auth` passwords are kept only as SHA-256 digests (`USER:sha256:HEX` gives the digest
//! directly); `--auth-file` holds Apache htpasswd bcrypt lines (`htpasswd -B`), so passwords
//! leave the command line and `ps`. Every comparison is constant-time (`subtle`) and every
//! configured credential is compared; a user name that is not in the file still costs one
//! bcrypt check, so the time does not say which user exists.
//!
//! A bcrypt check costs tens of milliseconds by design, and Basic authentication sends the
//! credentials with every request (`aria2c -x 8` makes hundreds), so a successful check is
//! remembered for [`REMEMBER_FOR`], keyed by a keyed hash (HMAC-SHA-256 under a random key made
//! at start) of the user name and password, as caddy's basicauth does: a download pays for it
//! once. Failures are never remembered.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Wrong attempts allowed for one user name from one client within [`WINDOW`] before that
/// user name is refused to that client.
pub const MAX_FAILURES: usize = 10;
/// The window failures are counted in, and how long a user name is then refused to a client.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How long a successful bcrypt check is remembered.
pub const REMEMBER_FOR: Duration = Duration::from_secs(600);
/// Successful checks remembered at most (the oldest go first).
pub const MAX_REMEMBERED: usize = 4096;
/// The bytes of a user name a failure is counted under (longer names share a count).
const USER_KEY_BYTES: usize = 256;

/// The `WWW-Authenticate` challenge.
pub const CHALLENGE: &str = "Basic realm=\"rangeserve\", charset=\"UTF-8\"";

/// How a user's password is checked.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// `--auth`: the SHA-256 of the password.
    Sha256([u8; 32]),
    /// `--auth-file`: a bcrypt hash (`$2y$`, `$2b$`, `$2a$`).
    Bcrypt(String),
}

/// One user and how its password is checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub user: String,
    pub secret: Secret,
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
        secret: Secret::Sha256(sha256),
    })
}

/// Whether `hash` has the form of a bcrypt hash: `$2y$`, `$2b$` or `$2a$`, a two-digit cost
/// from 4 to 31, `$`, and 53 characters of bcrypt's base64.
fn is_bcrypt(hash: &str) -> bool {
    let b = hash.as_bytes();
    let alphabet = |c: &u8| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/';
    b.len() == 60
        && (hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$"))
        && hash[4..6]
            .parse::<u32>()
            .is_ok_and(|cost| (4..=31).contains(&cost))
        && b[6] == b'$'
        && b[7..].iter().all(alphabet)
}

/// An Apache htpasswd file with bcrypt entries (`htpasswd -B`): `user:$2y$…` per line; empty
/// lines and `#` comments are skipped. Any other hash form (MD5 `$apr1$`, `{SHA}`, crypt) or a
/// line without `:` is an error naming the line. A user named twice is an error too.
pub fn parse_htpasswd(text: &str) -> Result<Vec<Credential>, String> {
    let mut credentials: Vec<Credential> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let n = n + 1;
        let (user, hash) = line
            .split_once(':')
            .ok_or_else(|| format!("line {n}: expected USER:HASH"))?;
        if user.is_empty() {
            return Err(format!("line {n}: the user name is empty"));
        }
        if !is_bcrypt(hash) {
            return Err(format!(
                "line {n}: only bcrypt entries ($2y$) are accepted; make them with htpasswd -B"
            ));
        }
        if credentials.iter().any(|c| c.user == user) {
            return Err(format!("line {n}: user '{user}' is named twice"));
        }
        credentials.push(Credential {
            user: user.to_string(),
            secret: Secret::Bcrypt(hash.to_string()),
        });
    }
    Ok(credentials)
}

/// What a request's `Authorization` field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basic {
    /// None sent (or not Basic): a challenge, not a failure.
    Missing,
    /// Basic, but not base64 of `user:password`: a failure, counted under an empty user name.
    Malformed,
    /// A user name and a password.
    Pair { user: Vec<u8>, password: Vec<u8> },
}

/// Reads an `Authorization` field value.
pub fn basic(authorization: Option<&[u8]>) -> Basic {
    let Some(value) = authorization else {
        return Basic::Missing;
    };
    let text = String::from_utf8_lossy(value);
    let mut words = text.trim().splitn(2, ' ');
    let scheme = words.next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("basic") {
        return Basic::Missing;
    }
    let token = words.next().unwrap_or_default().trim();
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token) else {
        return Basic::Malformed;
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return Basic::Malformed;
    };
    Basic::Pair {
        user: decoded[..colon].to_vec(),
        password: decoded[colon + 1..].to_vec(),
    }
}

/// What the credentials say of a user name and password, before any bcrypt work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// They match this user.
    Allowed(String),
    /// Wrong: a failure, counted.
    Wrong,
    /// The password must be checked against this bcrypt hash (slow: off the async workers).
    /// `user` is who it would allow; `None` when the name is no one's — the check is still
    /// made (so the time does not tell) but cannot allow.
    Bcrypt { hash: String, user: Option<String> },
}

/// Checks a user name and password against the credentials: every SHA-256 credential and every
/// user name compared in constant time.
pub fn check(credentials: &[Credential], user: &[u8], password: &[u8]) -> Verdict {
    let digest: [u8; 32] = Sha256::digest(password).into();
    let mut allowed: Option<&Credential> = None;
    let mut bcrypt: Option<&Credential> = None;
    let mut any_bcrypt: Option<&str> = None;
    for credential in credentials {
        let same_user = bool::from(credential.user.as_bytes().ct_eq(user));
        match &credential.secret {
            Secret::Sha256(sha256) => {
                if same_user && bool::from(sha256.ct_eq(&digest)) && allowed.is_none() {
                    allowed = Some(credential);
                }
            }
            Secret::Bcrypt(hash) => {
                any_bcrypt.get_or_insert(hash);
                if same_user && bcrypt.is_none() {
                    bcrypt = Some(credential);
                }
            }
        }
    }
    match (allowed, bcrypt, any_bcrypt) {
        (Some(credential), _, _) => Verdict::Allowed(credential.user.clone()),
        (None, Some(credential), _) => match &credential.secret {
            Secret::Bcrypt(hash) => Verdict::Bcrypt {
                hash: hash.clone(),
                user: Some(credential.user.clone()),
            },
            Secret::Sha256(_) => Verdict::Wrong,
        },
        (None, None, Some(hash)) => Verdict::Bcrypt {
            hash: hash.to_string(),
            user: None,
        },
        (None, None, None) => Verdict::Wrong,
    }
}

/// The slow part: whether `password` matches the bcrypt `hash` (tens of milliseconds at the
/// usual costs: run it on the blocking pool).
pub fn bcrypt_matches(password: &[u8], hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// Successful bcrypt checks, remembered for [`REMEMBER_FOR`] under a keyed hash of the user
/// name and password (never the password itself).
#[derive(Debug)]
pub struct Remembered {
    key: [u8; 32],
    entries: HashMap<[u8; 32], (String, Instant)>,
}

impl Remembered {
    /// `key`: random bytes, made once at start (a restart forgets everything).
    pub fn new(key: [u8; 32]) -> Remembered {
        Remembered {
            key,
            entries: HashMap::new(),
        }
    }

    fn tag(&self, user: &[u8], password: &[u8]) -> [u8; 32] {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        mac.update(&(user.len() as u64).to_le_bytes());
        mac.update(user);
        mac.update(password);
        mac.finalize().into_bytes().into()
    }

    /// The user these credentials were found to be, if that was less than [`REMEMBER_FOR`] ago.
    pub fn get(&self, user: &[u8], password: &[u8], now: Instant) -> Option<String> {
        let (name, until) = self.entries.get(&self.tag(user, password))?;
        (*until > now).then(|| name.clone())
    }

    /// Remembers a successful check. Past [`MAX_REMEMBERED`], the expired go, then the one that
    /// expires first.
    pub fn put(&mut self, user: &[u8], password: &[u8], name: String, now: Instant) {
        if self.entries.len() >= MAX_REMEMBERED {
            self.entries.retain(|_, (_, until)| *until > now);
        }
        if self.entries.len() >= MAX_REMEMBERED
            && let Some(first) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, until))| *until)
                .map(|(tag, _)| *tag)
        {
            self.entries.remove(&first);
        }
        let tag = self.tag(user, password);
        self.entries.insert(tag, (name, now + REMEMBER_FOR));
    }

    /// Forgets every check (the credentials were reloaded).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What failures are counted under: a client (an address, an IPv6 /64) and a user name.
pub type FailureKey = (IpAddr, Box<[u8]>);

/// The key of `user`'s failures from `client`.
pub fn failure_key(client: IpAddr, user: &[u8]) -> FailureKey {
    (client, user[..user.len().min(USER_KEY_BYTES)].into())
}

/// Wrong attempts per client and user name.
#[derive(Debug, Default)]
pub struct Failures {
    by_address: HashMap<FailureKey, Record>,
    /// When each attempt stops counting (`WINDOW` after it), oldest first: what the expiry walks,
    /// so a failure costs O(1) amortized however many keys are held.
    expiries: VecDeque<(Instant, FailureKey)>,
    /// The failures of the keys the table had no room for, counted together: past the limit,
    /// all of them are refused (many addresses or names cannot guess without a limit).
    overflow: Record,
}

/// (Client, user name) pairs remembered at most: past it the oldest is forgotten (an attacker
/// with many addresses or names cannot make the table grow without end; each still gets its
/// own limit).
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
    /// How long `key` is still refused, if it is.
    pub fn refused_for(&self, key: &FailureKey, now: Instant) -> Option<Duration> {
        let until = match self.by_address.get(key) {
            Some(record) => record.refused_until?,
            // Not held: refused while the addresses without room are.
            None => self.overflow.refused_until?,
        };
        (until > now).then(|| until - now)
    }

    /// Counts a wrong attempt; returns how long the key is now refused, if the attempt
    /// crossed the limit.
    pub fn record(&mut self, key: &FailureKey, now: Instant) -> Option<Duration> {
        self.expire(now);
        let record = if self.by_address.len() >= MAX_ADDRESSES
            && !self.by_address.contains_key(key)
            && !self.evict_one(now)
        {
            // Every key held is refused: this one counts with the others without room.
            &mut self.overflow
        } else {
            self.by_address.entry(key.clone()).or_default()
        };
        record.recent.retain(|t| now.duration_since(*t) < WINDOW);
        // One expiry per key at a time (not one per failure: a flood of failures under long
        // names would hold a copy of the name per failure): pushed when its window opens, and
        // pushed again by `expire` while the key is still counting or refused.
        let opens_window = record.recent.is_empty() && record.refused_until.is_none();
        record.recent.push(now);
        let refused = if record.recent.len() > MAX_FAILURES {
            record.refused_until = Some(now + WINDOW);
            record.recent.clear();
            Some(WINDOW)
        } else {
            None
        };
        if opens_window {
            self.expiries.push_back((now + WINDOW, key.clone()));
        }
        refused
    }

    /// How many of the oldest expiries one eviction looks at for an address not refused.
    const EVICTION_SCAN: usize = 64;

    /// Forgets the address with the oldest attempt that is not refused now (a refused one is
    /// never forgotten before its refusal ends: its expiry goes back in line for then). Looks at
    /// most at [`Failures::EVICTION_SCAN`] entries; `false` if none could go.
    fn evict_one(&mut self, now: Instant) -> bool {
        for _ in 0..Self::EVICTION_SCAN {
            let Some((_, key)) = self.expiries.pop_front() else {
                return false;
            };
            if let Some(record) = self.by_address.get(&key) {
                match record.refused_until {
                    Some(until) if until > now => self.expiries.push_back((until, key)),
                    _ => {
                        self.by_address.remove(&key);
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Forgets the addresses whose attempts and refusal are all over.
    fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.expiries.front() {
            if *at > now {
                break;
            }
            let Some((_, key)) = self.expiries.pop_front() else {
                break;
            };
            match self.by_address.get(&key) {
                Some(record) if record.stale(now) => {
                    self.by_address.remove(&key);
                }
                // Still counting or refused: looked at again when that ends.
                Some(record) => {
                    let last = record.recent.last().map(|t| *t + WINDOW);
                    let until = last.max(record.refused_until).unwrap_or(now + WINDOW);
                    self.expiries
                        .push_back((until.max(now + Duration::from_millis(1)), key));
                }
                None => {}
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

    fn key(ip: IpAddr) -> FailureKey {
        failure_key(ip, b"u")
    }

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

    /// The verdict on an `Authorization` value, as the gate reaches it (Missing: `None`).
    fn verdict(c: &[Credential], authorization: Option<&[u8]>) -> Option<Verdict> {
        match super::basic(authorization) {
            Basic::Missing => None,
            Basic::Malformed => Some(Verdict::Wrong),
            Basic::Pair { user, password } => Some(check(c, &user, &password)),
        }
    }

    fn sha(text: &[u8]) -> Secret {
        Secret::Sha256(Sha256::digest(text).into())
    }

    #[test]
    fn credentials_parse_in_both_forms() {
        assert_eq!(creds()[0].user, "alice");
        assert!(creds()[1].secret == sha(b"b0b"));
        assert!(parse_credential("u:p:q").unwrap().secret == sha(b"p:q"));
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
        let allowed = |who: &str| Some(Verdict::Allowed(who.into()));
        assert_eq!(
            verdict(&c, Some(&basic("alice:wonder land"))),
            allowed("alice")
        );
        assert_eq!(verdict(&c, Some(&basic("bob:b0b"))), allowed("bob"));
        assert_eq!(
            verdict(&c, Some(b"basic Ym9iOmIwYg==")),
            allowed("bob"),
            "scheme case-insensitive"
        );
        for wrong in [
            "alice:wonder",
            "bob:wonder land",
            "carol:b0b",
            "alice:",
            ":b0b",
        ] {
            assert_eq!(
                verdict(&c, Some(&basic(wrong))),
                Some(Verdict::Wrong),
                "{wrong}"
            );
        }
        assert_eq!(verdict(&c, Some(b"Basic !!!")), Some(Verdict::Wrong));
        assert_eq!(verdict(&c, Some(&basic("nocolon"))), Some(Verdict::Wrong));
        assert_eq!(verdict(&c, None), None);
        assert_eq!(verdict(&c, Some(b"Bearer abc")), None);
    }

    #[test]
    fn htpasswd_bcrypt_lines_are_read_and_anything_else_is_refused_by_line() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let text = format!("# users\n\ncarol:{hash}\r\ndave:{hash}\n");
        let users = parse_htpasswd(&text).unwrap();
        assert_eq!(users.len(), 2);
        assert!(users[0].user == "carol" && users[0].secret == Secret::Bcrypt(hash.clone()));
        for (bad, why) in [
            ("erin:$apr1$abc$def".to_string(), "line 1: only bcrypt"),
            ("erin:{SHA}abc=".to_string(), "line 1: only bcrypt"),
            ("no colon".to_string(), "line 1: expected USER:HASH"),
            (format!(":{hash}"), "line 1: the user name is empty"),
            (
                format!("a:{hash}\na:{hash}"),
                "line 2: user 'a' is named twice",
            ),
            (format!("a:{}", &hash[..59]), "line 1: only bcrypt"),
        ] {
            let err = parse_htpasswd(&bad).unwrap_err();
            assert!(err.starts_with(why), "{bad}: {err}");
        }
    }

    #[test]
    fn a_bcrypt_user_is_checked_slowly_and_an_unknown_name_costs_the_same() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let mut users = creds();
        users.push(Credential {
            user: "carol".into(),
            secret: Secret::Bcrypt(hash.clone()),
        });
        let Verdict::Bcrypt { hash: h, user } = check(&users, b"carol", b"s3cret") else {
            panic!("a bcrypt check is due");
        };
        assert_eq!(
            (h.as_str(), user.as_deref()),
            (hash.as_str(), Some("carol"))
        );
        assert!(bcrypt_matches(b"s3cret", &h));
        assert!(!bcrypt_matches(b"s3cre", &h));
        assert!(!bcrypt_matches(b"s3cret", "not a hash"));
        // A name nobody has: still a bcrypt check, which cannot allow.
        assert!(matches!(
            check(&users, b"mallory", b"s3cret"),
            Verdict::Bcrypt { user: None, .. }
        ));
        // The SHA-256 users are still fast.
        assert_eq!(
            check(&users, b"bob", b"b0b"),
            Verdict::Allowed("bob".into())
        );
        // Without bcrypt users, an unknown name is simply wrong.
        assert_eq!(check(&creds(), b"mallory", b"x"), Verdict::Wrong);
    }

    #[test]
    fn a_success_is_remembered_for_a_while_under_a_keyed_hash() {
        let mut remembered = Remembered::new([1; 32]);
        let t0 = Instant::now();
        remembered.put(b"carol", b"s3cret", "carol".into(), t0);
        assert_eq!(
            remembered.get(b"carol", b"s3cret", t0),
            Some("carol".into())
        );
        assert_eq!(remembered.get(b"carol", b"s3cre", t0), None);
        assert_eq!(
            remembered.get(b"caro", b"ls3cret", t0),
            None,
            "the split counts"
        );
        assert_eq!(remembered.get(b"carol", b"s3cret", t0 + REMEMBER_FOR), None);
        for n in 0..(MAX_REMEMBERED + 10) {
            remembered.put(n.to_string().as_bytes(), b"p", "x".into(), t0);
        }
        assert!(remembered.len() <= MAX_REMEMBERED);
        remembered.clear();
        assert!(remembered.is_empty());
    }

    #[test]
    fn a_flood_of_failures_holds_one_expiry_per_key_not_one_per_failure() {
        let mut failures = Failures::default();
        let key = failure_key("10.0.0.9".parse().unwrap(), &[b'n'; 250]);
        let t0 = Instant::now();
        for i in 0..100_000u64 {
            failures.record(&key, t0 + Duration::from_micros(i));
        }
        assert!(failures.expiries.len() <= 2, "{}", failures.expiries.len());
        // Still refused while failures keep coming, and forgotten once they stop.
        assert!(
            failures
                .refused_for(&key, t0 + Duration::from_millis(100))
                .is_some()
        );
        let later = t0 + 3 * WINDOW;
        failures.record(&failure_key("10.0.0.8".parse().unwrap(), b"x"), later);
        assert_eq!(failures.refused_for(&key, later), None);
        assert_eq!(failures.len(), 1);
    }

    #[test]
    fn a_lockout_refuses_one_user_name_from_one_client_only() {
        let mut failures = Failures::default();
        let client: IpAddr = "10.0.0.1".parse().unwrap();
        let alice = failure_key(client, b"alice");
        let t0 = Instant::now();
        for _ in 0..=MAX_FAILURES {
            failures.record(&alice, t0);
        }
        assert!(failures.refused_for(&alice, t0).is_some());
        assert_eq!(failures.refused_for(&failure_key(client, b"bob"), t0), None);
        let elsewhere = failure_key("10.0.0.2".parse().unwrap(), b"alice");
        assert_eq!(failures.refused_for(&elsewhere, t0), None);
        let long = vec![b'x'; 10_000];
        assert_eq!(failure_key(client, &long).1.len(), 256, "names are bounded");
    }

    #[test]
    fn more_than_ten_failures_in_a_minute_refuse_the_address_for_a_minute() {
        let mut failures = Failures::default();
        let ip = failure_key("10.0.0.1".parse().unwrap(), b"u");
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert_eq!(
                failures.record(&ip, t0 + Duration::from_secs(i as u64)),
                None
            );
        }
        assert_eq!(
            failures.refused_for(&ip, t0 + Duration::from_secs(10)),
            None
        );
        let crossed = t0 + Duration::from_secs(11);
        assert_eq!(failures.record(&ip, crossed), Some(WINDOW));
        assert_eq!(
            failures.refused_for(&ip, crossed + Duration::from_secs(30)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            failures.refused_for(&failure_key("10.0.0.2".parse().unwrap(), b"u"), crossed),
            None,
            "per address"
        );
        assert_eq!(failures.refused_for(&ip, crossed + WINDOW), None);
        // Failures spread over more than a minute never add up.
        let mut slow = Failures::default();
        for i in 0..100u64 {
            assert_eq!(slow.record(&ip, t0 + Duration::from_secs(i * 7)), None);
        }
        assert_eq!(retry_after(Duration::from_millis(59_001)), 60);
    }

    proptest! {
        #[test]
        fn no_other_password_is_allowed(password in ".{0,40}") {
            prop_assume!(password != "wonder land");
            let verdict = verdict(&creds(), Some(&basic(&format!("alice:{password}"))));
            prop_assert_eq!(verdict, Some(Verdict::Wrong));
        }
    }

    #[test]
    fn the_failure_table_forgets_stale_addresses_and_stays_bounded() {
        let mut failures = Failures::default();
        let t0 = Instant::now();
        for n in 0..(MAX_ADDRESSES as u32 + 5_000) {
            let ip = key(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
            failures.record(&ip, t0);
            assert!(failures.len() <= MAX_ADDRESSES);
        }
        // A minute on, one more failure forgets every stale address.
        let later = t0 + WINDOW + Duration::from_secs(1);
        failures.record(&key("192.0.2.1".parse().unwrap()), later);
        assert_eq!(failures.len(), 1);
        // A refused address is remembered for its whole refusal.
        let ip = key("192.0.2.2".parse().unwrap());
        for i in 0..=MAX_FAILURES {
            failures.record(&ip, later + Duration::from_millis(i as u64));
        }
        let refused_at = later + Duration::from_millis(MAX_FAILURES as u64);
        failures.record(&key("192.0.2.3".parse().unwrap()), refused_at + WINDOW / 2);
        assert!(failures.refused_for(&ip, refused_at + WINDOW / 2).is_some());
        // Even a flood of new addresses cannot make it forget a refused one early.
        let flood = refused_at + WINDOW / 2;
        for n in 0..(MAX_ADDRESSES as u32 + 100) {
            failures.record(
                &key(IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000 + n))),
                flood,
            );
        }
        assert!(failures.len() <= MAX_ADDRESSES);
        assert!(failures.refused_for(&ip, flood).is_some());
    }

    #[test]
    fn addresses_without_room_share_one_limit() {
        let mut failures = Failures::default();
        let t0 = Instant::now();
        // Every held address refused.
        for n in 0..MAX_ADDRESSES as u32 {
            let ip = key(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
            for _ in 0..=MAX_FAILURES {
                failures.record(&ip, t0);
            }
        }
        assert_eq!(failures.len(), MAX_ADDRESSES);
        // Fresh addresses, one failure each: together they cross the limit.
        let fresh = |n: u32| key(IpAddr::from(std::net::Ipv4Addr::from(0xc000_0200 + n)));
        for n in 0..MAX_FAILURES as u32 {
            assert_eq!(failures.record(&fresh(n), t0), None);
        }
        assert_eq!(failures.refused_for(&fresh(99), t0), None);
        assert_eq!(
            failures.record(&fresh(MAX_FAILURES as u32), t0),
            Some(WINDOW)
        );
        assert!(failures.refused_for(&fresh(99), t0).is_some());
        assert!(failures.len() <= MAX_ADDRESSES);
    }
}
