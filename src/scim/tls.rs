//! TLS in the service (`canon serve --tls-cert FILE --tls-key FILE`): rustls, TLS 1.2 and 1.3,
//! PEM files. The certificate is reloaded without a restart: the files are read again every
//! few seconds, and when their content changed, the new pair is checked (it parses, the key
//! matches the certificate) and swapped in for new handshakes. A bad new pair is logged and
//! the old one keeps serving; connections already open keep the certificate they began with.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("`{path}` is not a PEM certificate chain: {message}")]
    BadCertificate { path: PathBuf, message: String },
    #[error("`{path}` is not a PEM private key (PKCS#8, PKCS#1 or SEC1): {message}")]
    BadKey { path: PathBuf, message: String },
    #[error("the key `{key}` does not go with the certificate `{cert}`: {message}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The certificate and key files, and the pair serving now.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    resolver: Arc<Current>,
    acceptor: TlsAcceptor,
}

/// The resolver every handshake asks: the pair loaded last.
#[derive(Debug)]
struct Current {
    pair: RwLock<Loaded>,
}

#[derive(Debug, Clone)]
struct Loaded {
    key: Arc<CertifiedKey>,
    /// SHA-256 of both files' bytes, to tell a change.
    digest: [u8; 32],
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.pair
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .key
                .clone(),
        )
    }
}

impl Tls {
    /// Loads the pair; every problem is an error naming the file.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        // ring, not aws-lc-rs: no cmake in the build. Deprecated in 0.23.48 for lacking
        // post-quantum key exchange, which the IdPs' clients (classic ECDHE) do not use.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let loaded = load_pair(cert, key, &provider)?;
        let resolver = Arc::new(Current {
            pair: RwLock::new(loaded),
        });
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        // The service speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            resolver,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Reads the files again; swaps the pair in when their content changed and the new pair
    /// is good. `Ok(true)`: a new pair serves; `Ok(false)`: nothing changed; `Err`: the
    /// files changed but the pair is bad, and the old one keeps serving.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let digest = digest_of(&self.cert, &self.key)?;
        if digest == self.resolver.current().digest {
            return Ok(false);
        }
        let loaded = load_pair(&self.cert, &self.key, &self.provider)?;
        *self
            .resolver
            .pair
            .write()
            .unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(true)
    }

    /// Reloads every `interval` until the task is dropped; each outcome is logged once per
    /// change of the files (a bad pair is not reported again until the files change again).
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        let mut refused: Option<[u8; 32]> = None;
        loop {
            tokio::time::sleep(interval).await;
            let tls = self.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let digest = digest_of(&tls.cert, &tls.key).ok();
                (tls.reload(), digest)
            })
            .await;
            match outcome {
                Ok((Ok(true), _)) => {
                    refused = None;
                    tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                }
                Ok((Ok(false), _)) => {}
                Ok((Err(error), digest)) => {
                    if digest.is_none() || digest != refused {
                        tracing::error!(%error, "TLS certificate not reloaded; the previous one keeps serving");
                    }
                    refused = digest;
                }
                Err(error) => tracing::error!(%error, "TLS reload task failed"),
            }
        }
    }
}

impl Current {
    fn current(&self) -> Loaded {
        self.pair.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn digest_of(cert: &Path, key: &Path) -> Result<[u8; 32], TlsError> {
    let mut hash = Sha256::new();
    hash.update(read(cert)?);
    hash.update([0]);
    hash.update(read(key)?);
    Ok(hash.finalize().into())
}

fn load_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<Loaded, TlsError> {
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: cert.to_path_buf(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::BadKey {
        path: key.to_path_buf(),
        message: e.to_string(),
    })?;
    let certified =
        CertifiedKey::from_der(chain, private, provider).map_err(|e| TlsError::Mismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            message: e.to_string(),
        })?;
    let mut hash = Sha256::new();
    hash.update(&cert_pem);
    hash.update([0]);
    hash.update(&key_pem);
    Ok(Loaded {
        key: Arc::new(certified),
        digest: hash.finalize().into(),
    })
}
