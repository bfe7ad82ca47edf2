//! HTTPS as the running server does it: the certificate loaded (or, self-signed, made) at
//! start-up, the acceptor handshakes go through, and the reload on SIGHUP or when the key files
//! change. Parsing and the resolver are in `tls`; making a certificate in `self_signed`.

use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::TlsAcceptor;

use crate::cli::{Config, TlsSource};
use crate::error::StartupError;
use crate::net::self_signed;
use crate::net::signals;
use crate::net::tls::{self as tls_config, KeyFiles, Reloadable};
use crate::ops::banner::{SelfSignedCheck, TlsFacts};

/// HTTPS: the acceptor handshakes go through, the resolver a reload swaps the key in, the files
/// it reloads from, and (for `--tls-self-signed`) the names the certificate covers.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    resolver: Arc<Reloadable>,
    files: KeyFiles,
    self_signed: Option<Vec<String>>,
}

impl Tls {
    /// Loads (or, self-signed, makes) the certificate: any problem is a start-up error.
    pub fn start(source: &TlsSource, config: &Config) -> Result<Tls, StartupError> {
        let provider = tls_config::provider();
        let (files, self_signed) = match source {
            TlsSource::Files(files) => (files.clone(), None),
            TlsSource::SelfSigned => {
                let Some((state, _)) = &config.state_dir else {
                    return Err(StartupError::Usage(
                        "--tls-self-signed keeps its certificate in the state directory: give --state-dir",
                    ));
                };
                let dir = state.join("tls");
                let names = self_signed::machine_names(config.addr.ip());
                let (files, made) = self_signed::ensure(&dir, &names).map_err(|source| {
                    StartupError::SelfSigned {
                        path: dir.clone(),
                        source,
                    }
                })?;
                if made {
                    tracing::info!(
                        "made a self-signed certificate for {} in {}",
                        names.join(", "),
                        dir.display()
                    );
                }
                (files, Some(names))
            }
        };
        let key = files.load(&provider).map_err(StartupError::Tls)?;
        let resolver = Reloadable::new(key);
        let server = tls_config::server_config(Arc::clone(&resolver), provider)
            .map_err(StartupError::Runtime)?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            resolver,
            files,
            self_signed,
        })
    }

    /// Reloads the certificate and key on SIGHUP and whenever either file changes, from now on
    /// (SIGHUP never ends the process once this has run).
    pub fn watch(&self) {
        let hangup = signals::hangup();
        tokio::spawn(watch_key_files(
            self.files.clone(),
            Arc::clone(&self.resolver),
            hangup,
        ));
    }

    /// The certificate as the banner shows it.
    pub fn facts(&self) -> TlsFacts {
        let key = self.resolver.current();
        TlsFacts {
            cert_file: self.files.cert.display().to_string(),
            fingerprint: key
                .cert
                .first()
                .map(|cert| tls_config::fingerprint(cert))
                .unwrap_or_default(),
            self_signed: self.self_signed.clone(),
        }
    }

    /// For a self-signed certificate: what the client lines need to trust it.
    pub fn self_signed_check(&self) -> Option<SelfSignedCheck> {
        self.self_signed.as_ref()?;
        let key = self.resolver.current();
        Some(SelfSignedCheck {
            pin: key
                .key
                .public_key()
                .map(|spki| tls_config::pinned_key(spki.as_ref()))
                .unwrap_or_default(),
            ca_file: self.files.cert.display().to_string(),
        })
    }
}

/// How often the certificate and key files are looked at for a change.
const KEY_FILES_POLL: Duration = Duration::from_secs(2);

/// Reloads the certificate and key on SIGHUP and when either file changes. A reload that fails
/// (a file missing, half-written, or the key not the certificate's) keeps the current key and
/// says why; the next change or SIGHUP tries again.
async fn watch_key_files(
    files: KeyFiles,
    resolver: Arc<Reloadable>,
    mut hangup: Option<tokio::signal::unix::Signal>,
) {
    let mut seen = files.stamp();
    let mut tick = tokio::time::interval(KEY_FILES_POLL);
    loop {
        let why = tokio::select! {
            Some(()) = async {
                match &mut hangup {
                    Some(hangup) => hangup.recv().await,
                    None => std::future::pending().await,
                }
            } => "SIGHUP",
            _ = tick.tick() => {
                if files.stamp() == seen {
                    continue;
                }
                "the files changed"
            }
        };
        seen = files.stamp();
        match files.load(&tls_config::provider()) {
            Ok(key) => {
                let fingerprint = key.cert.first().map(|c| tls_config::fingerprint(c));
                resolver.replace(key);
                tracing::info!(
                    "{why}: reloaded the TLS certificate {} (SHA-256 {}); new connections get it",
                    files.cert.display(),
                    fingerprint.unwrap_or_default()
                );
            }
            Err(err) => tracing::warn!("{why}: {err}; keeping the certificate in use"),
        }
    }
}
