//! The users a request may authenticate as, kept for the server's life: `--auth`'s, and
//! `--auth-file`'s, read at start and again on SIGHUP (a file that cannot be read or parsed
//! then leaves the users as they were, with a log line). With the memory of recent successful
//! bcrypt checks (forgotten on reload: a changed password counts at once), the failure counts,
//! and the turns bcrypt checks take on the blocking pool.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use super::auth::{Credential, Failures, Remembered, parse_htpasswd};

/// bcrypt checks running at once, at most (the others wait for a turn): a spray of guesses
/// holds this many blocking threads, not one per request.
pub const BCRYPT_AT_ONCE: usize = 2;
/// A client's bcrypt checks run one at a time (the others of that client wait, in order), so
/// one client cannot fill the turns and starve the others' logins, nor run many guesses past
/// the lockout before they are counted; aria2c's eight connections with one password wait for
/// the first check and find it remembered. At most this many may wait; more are refused at
/// once (429, `Retry-After: 1`).
pub const BCRYPT_WAITING_PER_CLIENT: usize = 32;

#[derive(Debug)]
pub struct Users {
    from_args: Vec<Credential>,
    file: Option<PathBuf>,
    current: RwLock<Arc<[Credential]>>,
    remembered: Mutex<Remembered>,
    failures: Mutex<Failures>,
    /// Turns for a bcrypt check (see [`BCRYPT_AT_ONCE`]).
    pub bcrypt_turns: tokio::sync::Semaphore,
    /// Per client with bcrypt checks waiting or running: its one turn, and how many wait.
    pending: Arc<Mutex<HashMap<IpAddr, ClientQueue>>>,
}

type ClientQueue = (Arc<tokio::sync::Semaphore>, usize);

/// A client's turn for a bcrypt check (see [`BCRYPT_WAITING_PER_CLIENT`]); given back when
/// dropped.
pub struct ClientTurn {
    _permit: tokio::sync::OwnedSemaphorePermit,
    _waiting: Waiting,
}

/// A check counted as waiting or running for a client: uncounted when dropped (also when the
/// request is dropped while it waits).
struct Waiting {
    pending: Arc<Mutex<HashMap<IpAddr, ClientQueue>>>,
    client: IpAddr,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        forget_one(&self.pending, self.client);
    }
}

/// One fewer check of `client`'s waiting or running; its entry goes with the last.
fn forget_one(pending: &Mutex<HashMap<IpAddr, ClientQueue>>, client: IpAddr) {
    let mut pending = pending.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, n)) = pending.get_mut(&client) {
        *n -= 1;
        if *n == 0 {
            pending.remove(&client);
        }
    }
}

/// Reads an htpasswd file: its users, or why not (naming the line).
pub fn read_file(path: &Path) -> Result<Vec<Credential>, String> {
    let text = std::fs::read_to_string(path).map_err(|err| crate::error::describe(&err))?;
    parse_htpasswd(&text)
}

impl Users {
    /// `from_args`: `--auth`'s users; `file`: `--auth-file` and the users read from it at start.
    pub fn new(from_args: Vec<Credential>, file: Option<(PathBuf, Vec<Credential>)>) -> Users {
        let (file, from_file) = match file {
            Some((path, users)) => (Some(path), users),
            None => (None, Vec::new()),
        };
        let current: Arc<[Credential]> = from_args.iter().cloned().chain(from_file).collect();
        let key = super::keys::random_key().unwrap_or_else(|err| {
            tracing::warn!(
                "no random key ({err}): checked passwords are remembered under a fixed one"
            );
            [0x5a; 32]
        });
        Users {
            from_args,
            file,
            current: RwLock::new(current),
            remembered: Mutex::new(Remembered::new(key)),
            failures: Mutex::default(),
            bcrypt_turns: tokio::sync::Semaphore::new(BCRYPT_AT_ONCE),
            pending: Arc::default(),
        }
    }

    /// `client`'s turn for a bcrypt check, once its earlier ones are done; `None` when
    /// [`BCRYPT_WAITING_PER_CLIENT`] already wait.
    pub async fn client_turn(&self, client: IpAddr) -> Option<ClientTurn> {
        let turn = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let (turn, waiting) = pending
                .entry(client)
                .or_insert_with(|| (Arc::new(tokio::sync::Semaphore::new(1)), 0));
            if *waiting >= BCRYPT_WAITING_PER_CLIENT {
                return None;
            }
            *waiting += 1;
            Arc::clone(turn)
        };
        let waiting = Waiting {
            pending: Arc::clone(&self.pending),
            client,
        };
        let permit = turn.acquire_owned().await.ok()?;
        Some(ClientTurn {
            _permit: permit,
            _waiting: waiting,
        })
    }

    /// Whether requests must authenticate (`--auth` or `--auth-file` given, even if the file
    /// names nobody: then nobody gets in).
    pub fn required(&self) -> bool {
        self.file.is_some() || !self.from_args.is_empty()
    }

    /// The users now.
    pub fn current(&self) -> Arc<[Credential]> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn remembered(&self) -> MutexGuard<'_, Remembered> {
        self.remembered.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn failures(&self) -> MutexGuard<'_, Failures> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads `--auth-file` again (SIGHUP), logging what happened.
    pub fn reload(&self) {
        let Some(path) = &self.file else {
            return;
        };
        match read_file(path) {
            Ok(from_file) => {
                let count = from_file.len();
                let users: Arc<[Credential]> =
                    self.from_args.iter().cloned().chain(from_file).collect();
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = users;
                self.remembered().clear();
                tracing::info!("reloaded {count} user(s) from {}", path.display());
            }
            Err(why) => tracing::warn!(
                "cannot reload {}: {why}; the users stay as they were",
                path.display()
            ),
        }
    }
}
