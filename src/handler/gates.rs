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
use crate::share::auth::{self, Basic, Verdict};
use crate::share::link::{self, Check};
use crate::share::users::Users;
use crate::tree::route;

/// The `Host` check, then the credentials. `started`: when the request came (the monotonic
/// clock the failed-attempt window is measured on).
pub async fn admit(
    req: &Request<Incoming>,
    shared: &Shared,
    peer: SocketAddr,
    started: Instant,
) -> Result<(), Refusal> {
    let authority = req.uri().authority().map(|a| a.as_str());
    if let Some(problem) = fields::host_problem(req.headers(), req.version(), authority) {
        return Err(Refusal::BadRequest(problem));
    }
    authenticate(req, shared, peer, started).await
}

/// `--auth`, `--auth-file`: `Ok` when the request may go on, else the refusal (401, or 429 for
/// a user name with too many wrong attempts from this client). A bcrypt check runs on the
/// blocking pool (one of a few turns) and a success is remembered for a while; wrong
/// credentials are logged with the peer and the user name.
async fn authenticate(
    req: &Request<Incoming>,
    shared: &Shared,
    peer: SocketAddr,
    now: Instant,
) -> Result<(), Refusal> {
    let users = &shared.users;
    if !users.required() {
        return Ok(());
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let (user, password) = match auth::basic(given) {
        Basic::Missing => return Err(Refusal::Unauthorized),
        Basic::Malformed => (Vec::new(), None),
        Basic::Pair { user, password } => (user, Some(password)),
    };
    let client = crate::share::client::client(peer.ip());
    let key = auth::failure_key(client, &user);
    if let Some(left) = users.failures().refused_for(&key, now) {
        return Err(Refusal::TooManyAttempts(auth::retry_after(left)));
    }
    let allowed = match &password {
        None => false,
        Some(password) => match allowed(users, client, &key, &user, password, now).await {
            Checked::Yes => true,
            Checked::No => false,
            Checked::Refused(refusal) => return Err(refusal),
        },
    };
    if allowed {
        return Ok(());
    }
    let shown = String::from_utf8_lossy(&user);
    tracing::warn!(
        "wrong credentials from {peer} for user '{shown}' on {}",
        logged_path(req.uri().path(), &shared.config)
    );
    match users.failures().record(&key, now) {
        Some(refused) => {
            tracing::warn!(
                "{}: more than {} wrong credentials for '{shown}' in a minute; that user name is refused to it for {:?}",
                key.0,
                auth::MAX_FAILURES,
                refused
            );
            Err(Refusal::TooManyAttempts(auth::retry_after(refused)))
        }
        None => Err(Refusal::Unauthorized),
    }
}

/// What a check of credentials found.
enum Checked {
    Yes,
    No,
    /// Not checked: the client has too many checks pending, or the name was locked out while
    /// this one waited for its turn.
    Refused(Refusal),
}

/// Whether `user` and `password` are one of the users': remembered, or checked now (a bcrypt
/// check waits for the client's turn, then for one of the few turns of all).
async fn allowed(
    users: &Users,
    client: std::net::IpAddr,
    key: &auth::FailureKey,
    user: &[u8],
    password: &[u8],
    now: Instant,
) -> Checked {
    if users.remembered().get(user, password, now).is_some() {
        return Checked::Yes;
    }
    match auth::check(&users.current(), user, password) {
        Verdict::Allowed(_) => Checked::Yes,
        Verdict::Wrong => Checked::No,
        Verdict::Bcrypt { hash, user: who } => {
            let Some(_client_turn) = users.client_turn(client).await else {
                return Checked::Refused(Refusal::TooManyAttempts(1));
            };
            let Ok(_turn) = users.bcrypt_turns.acquire().await else {
                return Checked::No;
            };
            // Checked meanwhile by a request that held a turn (aria2c's connections come at once).
            if users.remembered().get(user, password, now).is_some() {
                return Checked::Yes;
            }
            // Locked out while this one waited: it is not tried.
            if let Some(left) = users.failures().refused_for(key, Instant::now()) {
                return Checked::Refused(Refusal::TooManyAttempts(auth::retry_after(left)));
            }
            tracing::debug!("a bcrypt check for '{}'", String::from_utf8_lossy(user));
            let given = password.to_vec();
            let matched = tokio::task::spawn_blocking(move || auth::bcrypt_matches(&given, &hash))
                .await
                .unwrap_or(false);
            match (matched, who) {
                (true, Some(name)) => {
                    users.remembered().put(user, password, name, now);
                    Checked::Yes
                }
                _ => Checked::No,
            }
        }
    }
}

/// Where the tree is mounted in this request's path: with `--secret-path` under `/<secret>`
/// (anything else is a miss like any other), with `--signed-links` under a valid link token
/// (expired at `now` → 410, anything else → 403); else at `/`. Returns the prefix, the rest,
/// and the folder (relative to the root) that a folder link's symlinks must stay inside
/// (empty: the whole root).
pub fn mount<'a>(path: &'a str, config: &Config, now: SystemTime) -> Result<Mount<'a>, Stop> {
    let miss = || Stop::Refuse(Refusal::NotFound);
    let plain = |prefix: String, rest: &'a str| Mount {
        prefix,
        rest,
        within: Vec::new(),
        link: None,
    };
    if let Some(secret) = &config.secret {
        let rest = crate::share::secret::strip_secret(path, secret).ok_or_else(miss)?;
        return match rest {
            "" => Err(Stop::Redirect(format!("/{secret}/"))),
            rest if rest.starts_with('/') => Ok(plain(format!("/{secret}"), rest)),
            _ => Err(miss()),
        };
    }
    let Some(key) = &config.link_key else {
        return Ok(plain(String::new(), path));
    };
    let after = path.strip_prefix('/').unwrap_or(path);
    let (token, rest) = match after.find('/') {
        Some(at) => (&after[..at], &after[at..]),
        None => (after, ""),
    };
    // The link covers what the path names: the root's web seed address is unaliased first, so
    // `/.web-seed/<root>/…` is checked as the path it serves.
    let segments = match rest {
        "" => Vec::new(),
        rest => {
            let parsed = route::parse(rest).map_err(|_| miss())?;
            route::unalias(parsed, config.root.name()).segments
        }
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
            Ok(Mount {
                prefix: format!("/{token}"),
                rest,
                within,
                link: Some(LinkUse {
                    id: link::id(token),
                    limit: link::download_limit(token),
                    expiry: link::expiry(token),
                }),
            })
        }
        Check::Expired => Err(Stop::Refuse(Refusal::LinkExpired)),
        Check::Refused => Err(Stop::Refuse(Refusal::LinkRefused)),
    }
}

/// Where a request's path is mounted.
#[derive(Debug)]
pub struct Mount<'a> {
    /// What comes before the tree's paths: empty, `/<secret>` or `/<link token>`.
    pub prefix: String,
    /// The path below it.
    pub rest: &'a str,
    /// The folder symlinks must stay in (a signed folder link's; empty: the root).
    pub within: Vec<u8>,
    /// The signed link it came through.
    pub link: Option<LinkUse>,
}

/// A signed link a request came through: its id and its download limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkUse {
    pub id: String,
    pub limit: Option<u64>,
    /// Unix seconds.
    pub expiry: u64,
}

/// A request path as the logs show it: a `--secret-path` token or a signed link's token
/// replaced by a stand-in wherever it is (see `share::secret`).
pub fn logged_path<'a>(path: &'a str, config: &Config) -> std::borrow::Cow<'a, str> {
    use crate::share::secret::{Secrets, redacted};
    let secrets = match (&config.secret, &config.link_key) {
        (Some(token), _) => Secrets::Path(token),
        (None, Some(_)) => Secrets::Links,
        (None, None) => Secrets::None,
    };
    redacted(path, secrets)
}
