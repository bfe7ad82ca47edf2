//! What a request passes before it is routed: a valid `Host` (RFC 9112 §3.2), the `--auth`
//! credentials, and the mount point (`--secret-path`, or a `--signed-links` token). Each gate
//! answers `Ok` to go on or a [`Stop`]: what to answer instead.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};

use super::plan::{Refusal, Stop};
use super::state::Shared;
use crate::cli::Config;
use crate::http::fields;
use crate::share::auth::{self, Verdict};
use crate::share::link::{self, Check};
use crate::tree::route;

/// The `Host` check, then the credentials. `started`: when the request came (the monotonic
/// clock the failed-attempt window is measured on).
pub fn admit(
    req: &Request<Incoming>,
    shared: &Shared,
    peer: SocketAddr,
    started: Instant,
) -> Result<(), Refusal> {
    let authority = req.uri().authority().map(|a| a.as_str());
    if let Some(problem) = fields::host_problem(req.headers(), req.version(), authority) {
        return Err(Refusal::BadRequest(problem));
    }
    authenticate(req, shared, peer, started)
}

/// `--auth`: `Ok` when the request may go on, else the refusal (401, or 429 for an address with
/// too many wrong attempts). Wrong credentials are logged with the peer.
fn authenticate(
    req: &Request<Incoming>,
    shared: &Shared,
    peer: SocketAddr,
    now: Instant,
) -> Result<(), Refusal> {
    let credentials = &shared.config.auth;
    if credentials.is_empty() {
        return Ok(());
    }
    let refuse = Err;
    let mut failures = shared
        .failures
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(left) = failures.refused_for(peer.ip(), now) {
        return refuse(Refusal::TooManyAttempts(auth::retry_after(left)));
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match auth::check(credentials, given) {
        Verdict::Allowed(_) => Ok(()),
        Verdict::Missing => refuse(Refusal::Unauthorized),
        Verdict::Wrong => {
            tracing::warn!(
                "wrong credentials from {peer} for {}",
                logged_path(req.uri().path(), &shared.config)
            );
            match failures.record(peer.ip(), now) {
                Some(refused) => {
                    tracing::warn!(
                        "{}: more than {} wrong credentials in a minute; refused for {:?}",
                        peer.ip(),
                        auth::MAX_FAILURES,
                        refused
                    );
                    refuse(Refusal::TooManyAttempts(auth::retry_after(refused)))
                }
                None => refuse(Refusal::Unauthorized),
            }
        }
    }
}

/// Where the tree is mounted in this request's path: with `--secret-path` under `/<secret>`
/// (anything else is a miss like any other), with `--signed-links` under a valid link token
/// (expired at `now` → 410, anything else → 403); else at `/`. Returns the prefix, the rest,
/// and the folder (relative to the root) that a folder link's symlinks must stay inside
/// (empty: the whole root).
pub fn mount<'a>(
    path: &'a str,
    config: &Config,
    now: SystemTime,
) -> Result<(String, &'a str, Vec<u8>), Stop> {
    let miss = || Stop::Refuse(Refusal::NotFound);
    if let Some(secret) = &config.secret {
        let rest = crate::share::secret::strip_secret(path, secret).ok_or_else(miss)?;
        return match rest {
            "" => Err(Stop::Redirect(format!("/{secret}/"))),
            rest if rest.starts_with('/') => Ok((format!("/{secret}"), rest, Vec::new())),
            _ => Err(miss()),
        };
    }
    let Some(key) = &config.link_key else {
        return Ok((String::new(), path, Vec::new()));
    };
    let after = path.strip_prefix('/').unwrap_or(path);
    let (token, rest) = match after.find('/') {
        Some(at) => (&after[..at], &after[at..]),
        None => (after, ""),
    };
    let segments = match rest {
        "" => Vec::new(),
        rest => route::parse(rest).map_err(|_| miss())?.segments,
    };
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match link::verify(key, token, &segments, now) {
        // `/<token>` without the slash: a root directory link's listing is at `/<token>/`.
        Check::Valid if rest.is_empty() => Err(Stop::Redirect(format!("/{token}/"))),
        Check::Valid => {
            let within = link::folder_segments(token)
                .map(|n| segments[..n.min(segments.len())].join(&b'/'))
                .unwrap_or_default();
            Ok((format!("/{token}"), rest, within))
        }
        Check::Expired => Err(Stop::Refuse(Refusal::LinkExpired)),
        Check::Refused => Err(Stop::Refuse(Refusal::LinkRefused)),
    }
}

/// A request path as the logs show it: a `--secret-path` token or a signed link's token (the
/// first segment) replaced by a stand-in (see `share::secret`).
pub fn logged_path<'a>(path: &'a str, config: &Config) -> std::borrow::Cow<'a, str> {
    use crate::share::secret::{LINK, SECRET, redacted};
    let stand_in = if config.secret.is_some() {
        Some(SECRET)
    } else if config.link_key.is_some() {
        Some(LINK)
    } else {
        None
    };
    redacted(path, stand_in)
}
