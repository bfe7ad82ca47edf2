//! TLS with rustls: the certificate chain and private key from PEM files, a server config that
//! speaks TLS 1.2 and 1.3 only and offers `h2` and `http/1.1` by ALPN, and a certificate
//! resolver whose key can be swapped while the server runs ([`Reloadable`]): a reload changes
//! what new handshakes present, never a connection already established (rustls keeps the key a
//! handshake used only for that handshake).
//!
//! Parsing ([`parse`]) is pure: PEM bytes in, a checked chain and key (or the reason they are not
//! usable) out; reading the files is the thin part. Loading at start-up and reloading on SIGHUP
//! or a change of the files is `tls_server`'s.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};

use crate::error::TlsError;

/// The protocol versions offered: TLS 1.2 and 1.3 (1.0 and 1.1 are deprecated by RFC 8996).
const VERSIONS: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// ALPN, in the server's order of preference (RFC 7301; RFC 9113 §3.2).
pub const ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

/// TLS sessions kept for resumption by session ID (TLS 1.2) and by stateful ticket; stateless
/// tickets (below) need none. nginx's `ssl_session_cache shared:SSL:1m` holds about 4000.
const SESSION_CACHE: usize = 4096;

/// The cryptography: ring (see the README's performance table for the measurement that chose
/// it over aws-lc-rs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What is wrong with a pair of PEM texts, before it is tied to a file name.
#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    /// The certificate file: no certificate in it, or a PEM section that does not parse.
    Cert(String),
    /// The key file: no key in it, not a key this provider can sign with, or not the
    /// certificate's key.
    Key(String),
}

/// Parses a PEM certificate chain (end-entity first) and a PEM private key (PKCS#8, PKCS#1 or
/// SEC1; RSA, ECDSA or Ed25519), and checks that the key is the certificate's.
pub fn parse(
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, Problem> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| Problem::Cert(format!("malformed PEM ({err})")))?;
    if chain.is_empty() {
        return Err(Problem::Cert(
            "no PEM certificate (BEGIN CERTIFICATE) in it".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|err| {
        Problem::Key(match err {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PEM private key (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) in it"
                    .to_string()
            }
            err => format!("malformed PEM ({err})"),
        })
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|err| {
        Problem::Key(match err {
            rustls::Error::InconsistentKeys(_) => {
                "it is not the key of the certificate (the certificate's public key differs)"
                    .to_string()
            }
            rustls::Error::InvalidCertificate(err) => {
                return Problem::Cert(format!("not a usable certificate ({err})"));
            }
            err => format!("not a usable private key ({err})"),
        })
    })
}

/// Where the certificate and key come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl KeyFiles {
    /// Reads and parses both files.
    pub fn load(&self, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|err| TlsError {
                what,
                path: path.to_path_buf(),
                reason: crate::error::describe(&err),
            })
        };
        let cert = read("certificate", &self.cert)?;
        let key = read("key", &self.key)?;
        parse(&cert, &key, provider).map_err(|problem| match problem {
            Problem::Cert(reason) => TlsError {
                what: "certificate",
                path: self.cert.clone(),
                reason,
            },
            Problem::Key(reason) => TlsError {
                what: "key",
                path: self.key.clone(),
                reason,
            },
        })
    }

    /// What identifies the files' current contents for change detection: (inode, size, mtime)
    /// of each; `None` for one that cannot be read.
    pub fn stamp(&self) -> [Option<(u64, u64, SystemTime)>; 2] {
        let stamp = |path: &Path| -> Option<(u64, u64, SystemTime)> {
            use std::os::unix::fs::MetadataExt as _;
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.ino(), meta.len(), meta.modified().ok()?))
        };
        [stamp(&self.cert), stamp(&self.key)]
    }
}

/// The certificate resolver: one current key, replaced whole on reload.
#[derive(Debug)]
pub struct Reloadable {
    current: RwLock<Arc<CertifiedKey>>,
}

impl Reloadable {
    pub fn new(key: CertifiedKey) -> Arc<Reloadable> {
        Arc::new(Reloadable {
            current: RwLock::new(Arc::new(key)),
        })
    }

    /// New handshakes present `key` from now on.
    pub fn replace(&self, key: CertifiedKey) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(key);
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

impl ResolvesServerCert for Reloadable {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The server config: TLS 1.2 and 1.3, no client certificates, ALPN h2 then http/1.1, session
/// resumption by ID, stateful and stateless tickets (like nginx's defaults with a session cache).
pub fn server_config(
    resolver: Arc<Reloadable>,
    provider: Arc<CryptoProvider>,
) -> io::Result<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(io::Error::other)?;
    Ok(config)
}

/// A certificate's SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` prints it:
/// upper-case hex pairs joined by colons.
pub fn fingerprint(cert_der: &[u8]) -> String {
    Sha256::digest(cert_der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// curl's `--pinnedpubkey` value for a public key: `sha256//` and the base64 of the SHA-256 of
/// its DER SubjectPublicKeyInfo.
pub fn pinned_key(spki_der: &[u8]) -> String {
    format!(
        "sha256//{}",
        crate::http::format::base64(&Sha256::digest(spki_der))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (String, String, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem(), key)
    }

    #[test]
    fn a_matching_pair_parses() {
        let (cert, key, _) = pair();
        let certified = parse(cert.as_bytes(), key.as_bytes(), &provider()).unwrap();
        assert_eq!(certified.cert.len(), 1);
    }

    #[test]
    fn a_chain_keeps_its_order() {
        let (cert, key, _) = pair();
        let (other, _, _) = pair();
        let chain = format!("{cert}{other}");
        let certified = parse(chain.as_bytes(), key.as_bytes(), &provider()).unwrap();
        assert_eq!(certified.cert.len(), 2);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (cert, _, _) = pair();
        let (_, other_key, _) = pair();
        let problem = parse(cert.as_bytes(), other_key.as_bytes(), &provider()).unwrap_err();
        assert!(
            matches!(&problem, Problem::Key(why) if why.contains("not the key")),
            "{problem:?}"
        );
    }

    #[test]
    fn empty_swapped_and_garbage_files_name_the_right_file() {
        let (cert, key, _) = pair();
        let p = provider();
        assert!(matches!(
            parse(b"", key.as_bytes(), &p),
            Err(Problem::Cert(_))
        ));
        assert!(matches!(
            parse(b"hello", key.as_bytes(), &p),
            Err(Problem::Cert(_))
        ));
        assert!(matches!(
            parse(cert.as_bytes(), b"", &p),
            Err(Problem::Key(_))
        ));
        // The files given the wrong way round: the certificate file holds no certificate.
        assert!(matches!(
            parse(key.as_bytes(), cert.as_bytes(), &p),
            Err(Problem::Cert(_))
        ));
        let torn = &cert[..cert.len() / 2];
        assert!(matches!(
            parse(torn.as_bytes(), key.as_bytes(), &p),
            Err(Problem::Cert(_))
        ));
        let bad_body = cert.replacen("MII", "M!I", 1);
        assert!(parse(bad_body.as_bytes(), key.as_bytes(), &p).is_err());
    }

    #[test]
    fn fingerprints_are_colon_hex_and_pins_are_base64_sha256() {
        // SHA-256 of the empty string.
        assert_eq!(fingerprint(b"")[..11], *"E3:B0:C4:42");
        assert_eq!(fingerprint(b"").len(), 32 * 3 - 1);
        assert_eq!(
            pinned_key(b""),
            "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn a_replaced_key_is_what_the_resolver_returns() {
        let (cert, key, _) = pair();
        let (cert2, key2, _) = pair();
        let p = provider();
        let resolver = Reloadable::new(parse(cert.as_bytes(), key.as_bytes(), &p).unwrap());
        let before = resolver.current();
        resolver.replace(parse(cert2.as_bytes(), key2.as_bytes(), &p).unwrap());
        assert_ne!(before.cert[0], resolver.current().cert[0]);
    }
}
