//! `canon.yaml`: where to listen, the database, the admin token hash, the tenants.

use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::extensions::ExtensionsConfig;
use super::rate_limit::RateLimit;
use crate::store::TenantId;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The SQLite file, relative to the config file's folder; or a `postgres://` URL, for a
    /// database several instances share.
    #[serde(default = "default_database")]
    pub database: PathBuf,
    /// SHA-256 (hex) of the admin token (profiles, reload).
    #[serde(default)]
    pub admin_token_sha256: Option<String>,
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Limits on connections; written only when they differ from the defaults.
    #[serde(default, skip_serializing_if = "Connections::is_default")]
    pub connections: Connections,
    /// How clients reach the service, when not at `http://{listen}` (behind a proxy:
    /// `https://scim.example.com`): the base of the URLs `canon tenant` prints and setup
    /// pages show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// HTTPS: the certificate chain and key `canon serve` uses when `--tls-cert`/`--tls-key`
    /// are not given (paths relative to the config file's folder). With it, the URLs
    /// `canon tenant` prints are `https://` too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// Tenants to import into the store's tenant registry when it lacks them (a bootstrap:
    /// after that the registry decides; docs/operations.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantConfig>,
}

/// `tls:` in `canon.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM: the server certificate, then its intermediates.
    pub cert: PathBuf,
    /// PEM: its private key.
    pub key: PathBuf,
}

/// How long a client may take, and how many may be connected (docs/scim.md says what
/// happens at each limit). Every field is optional; none may be 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Connections {
    /// Open connections at most; more wait in the kernel's accept queue. Below the usual
    /// 1,024 open files, with room for the store's files.
    pub max: usize,
    /// A request's head (line and headers) must arrive within this many seconds of the
    /// connection opening or the last response: else the connection is closed. This is also
    /// the idle keep-alive timeout.
    pub head_timeout_secs: u64,
    /// A request's body must arrive within this many seconds of its head: else 408.
    pub body_timeout_secs: u64,
    /// On SIGTERM or Ctrl-C, requests in flight get this many seconds to finish; then every
    /// connection is closed.
    pub shutdown_grace_secs: u64,
    /// Requests served at once at most, all tenants together (probes aside).
    pub max_in_flight: usize,
    /// How long a request past `max_in_flight` waits for a slot before its 503 (0: at once).
    pub in_flight_wait_secs: u64,
    /// A TLS handshake must finish within this many seconds of the connection opening.
    pub tls_handshake_timeout_secs: u64,
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            max: 512,
            head_timeout_secs: 20,
            body_timeout_secs: 30,
            shutdown_grace_secs: 10,
            max_in_flight: 128,
            in_flight_wait_secs: 5,
            tls_handshake_timeout_secs: 10,
        }
    }
}

impl Connections {
    fn is_default(&self) -> bool {
        *self == Connections::default()
    }

    /// The first limit set to 0 (none would let any client in, or keep any out), by name.
    fn zero(&self) -> Option<&'static str> {
        [
            ("max", self.max as u64),
            ("head_timeout_secs", self.head_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
            ("shutdown_grace_secs", self.shutdown_grace_secs),
            ("max_in_flight", self.max_in_flight as u64),
            (
                "tls_handshake_timeout_secs",
                self.tls_handshake_timeout_secs,
            ),
        ]
        .into_iter()
        .find_map(|(name, value)| (value == 0).then_some(name))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub id: TenantId,
    /// The tenant's rule file, relative to the config file's folder.
    pub rules: PathBuf,
    pub token_sha256: String,
    /// Aliases of the customer's extension namespaces, strict mode (docs/scim.md).
    #[serde(default, skip_serializing_if = "ExtensionsConfig::is_default")]
    pub extensions: ExtensionsConfig,
    /// Requests per second (a token bucket holding two seconds of them) or `off`; written
    /// only when it is not the default (docs/operations.md, "Rate limits").
    #[serde(default, skip_serializing_if = "RateLimit::is_default")]
    pub rate_limit: RateLimit,
}

fn default_listen() -> String {
    DEFAULT_LISTEN.into()
}
fn default_database() -> PathBuf {
    PathBuf::from("canon.db")
}
fn default_max_body() -> usize {
    DEFAULT_MAX_BODY
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            database: default_database(),
            admin_token_sha256: None,
            max_body_bytes: DEFAULT_MAX_BODY,
            connections: Connections::default(),
            public_url: None,
            tls: None,
            tenants: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid config: {source}")]
    Parse {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("`{path}`: `connections.{field}` must be at least 1")]
    ZeroLimit { path: PathBuf, field: &'static str },
    #[error("`{path}`: tenant `{id}`: {message}")]
    Extensions {
        path: PathBuf,
        id: TenantId,
        message: String,
    },
    #[error("`{path}`: tenant `{id}` appears twice")]
    Duplicate { path: PathBuf, id: TenantId },
    #[error("no tenant `{0}` in the config")]
    UnknownTenant(String),
    #[error("tenant `{0}` exists already (use `canon tenant rotate-token`)")]
    TenantExists(String),
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let config: Config = serde_yaml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source,
        })?;
        if let Some(field) = config.connections.zero() {
            return Err(ConfigError::ZeroLimit {
                path: path.into(),
                field,
            });
        }
        for (i, tenant) in config.tenants.iter().enumerate() {
            if config.tenants[..i].iter().any(|t| t.id == tenant.id) {
                return Err(ConfigError::Duplicate {
                    path: path.into(),
                    id: tenant.id.clone(),
                });
            }
            if let Err(message) = tenant.extensions.resolve() {
                return Err(ConfigError::Extensions {
                    path: path.into(),
                    id: tenant.id.clone(),
                    message,
                });
            }
        }
        Ok(config)
    }

    /// Writes the config atomically (temp file + rename), so a crash never leaves half a file.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let write_err = |source| ConfigError::Write {
            path: path.into(),
            source,
        };
        let text = serde_yaml::to_string(self)
            .map_err(|e| write_err(std::io::Error::other(e.to_string())))?;
        let tmp = path.with_extension("yaml.tmp");
        std::fs::write(&tmp, text).map_err(write_err)?;
        std::fs::rename(&tmp, path).map_err(write_err)
    }

    /// The base of the service's URLs as clients reach it: `public_url`, else the `listen`
    /// address with the scheme the service speaks (`https` with `tls:`).
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None if self.tls.is_some() => format!("https://{}", self.listen),
            None => format!("http://{}", self.listen),
        }
    }

    /// Why [`base_url`](Config::base_url) is not what an identity provider can use, if it is
    /// not: plain `http` away from loopback, or an address no client can reach (`0.0.0.0`).
    pub fn base_url_warning(&self) -> Option<String> {
        if self.public_url.is_some() {
            return None;
        }
        let address: Option<std::net::SocketAddr> = self.listen.parse().ok();
        let fix = "set `public_url:` in canon.yaml to the https:// URL clients reach (docs/operations.md)";
        if address.is_some_and(|a| a.ip().is_unspecified()) {
            return Some(format!(
                "the base URL names `{}`, which no client can reach: {fix}",
                self.listen
            ));
        }
        if self.tls.is_none() && !address.is_some_and(|a| a.ip().is_loopback()) {
            return Some(format!(
                "the base URL is plain http: Okta and Entra ID require https: {fix}, or give the service `tls:`"
            ));
        }
        None
    }

    pub fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.id.as_str() == id)
    }

    /// A path from the config, resolved against the config file's folder.
    /// Points the config at another database (`--database`): a `postgres://` URL, or a
    /// SQLite file, relative to the working directory as command-line paths are.
    pub fn use_database(&mut self, database: &str) {
        self.database = if crate::store::is_postgres_url(database) {
            PathBuf::from(database)
        } else {
            std::path::absolute(database).unwrap_or_else(|_| PathBuf::from(database))
        };
    }

    pub fn resolve(config_path: &Path, path: &Path) -> PathBuf {
        if path.is_absolute() {
            return path.to_path_buf();
        }
        config_path.parent().unwrap_or(Path::new(".")).join(path)
    }
}

/// A new random bearer token: 32 bytes from the OS generator, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` hashes to `expected_hex`, compared in constant time.
pub fn token_matches(token: &str, expected_hex: &str) -> bool {
    let Ok(expected) = hex::decode(expected_hex) else {
        return false;
    };
    let actual = Sha256::digest(token.as_bytes());
    actual.as_slice().ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URLs `canon tenant` prints are what clients must use, and it says when they are not.
    #[test]
    fn the_base_url_follows_public_url_then_tls() {
        let config = |text: &str| -> Config { serde_yaml::from_str(text).unwrap() };
        let loopback = config("listen: 127.0.0.1:8080\n");
        assert_eq!(loopback.base_url(), "http://127.0.0.1:8080");
        assert_eq!(loopback.base_url_warning(), None);
        let tls = config("listen: 10.0.0.5:8443\ntls: {cert: c.pem, key: k.pem}\n");
        assert_eq!(tls.base_url(), "https://10.0.0.5:8443");
        assert_eq!(tls.base_url_warning(), None);
        let plain = config("listen: 10.0.0.5:8080\n");
        assert!(plain.base_url_warning().unwrap().contains("plain http"));
        let anywhere = config("listen: 0.0.0.0:8443\ntls: {cert: c.pem, key: k.pem}\n");
        assert!(anywhere
            .base_url_warning()
            .unwrap()
            .contains("which no client can reach"));
        let public = config("listen: 0.0.0.0:8080\npublic_url: https://scim.example.com/\n");
        assert_eq!(public.base_url(), "https://scim.example.com");
        assert_eq!(public.base_url_warning(), None);
    }

    #[test]
    fn tokens_hash_and_compare() {
        let token = new_token();
        assert_eq!(token.len(), 64);
        let hash = token_hash(&token);
        assert!(token_matches(&token, &hash));
        assert!(!token_matches("nope", &hash));
        assert!(!token_matches(&token, "zz"));
        assert_ne!(new_token(), token);
    }

    #[test]
    fn config_round_trip_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("canon.yaml");
        std::fs::write(
            &path,
            "tenants:\n  - id: acme\n    rules: acme.rules\n    token_sha256: ab\n",
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.listen, DEFAULT_LISTEN);
        assert_eq!(
            Config::resolve(&path, &config.database),
            dir.path().join("canon.db")
        );
        config.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), config);
        std::fs::write(
            &path,
            "tenants:\n  - id: Acme\n    rules: a\n    token_sha256: ab\n",
        )
        .unwrap();
        assert!(Config::load(&path).is_err());
        std::fs::write(&path, "bogus: 1\n").unwrap();
        assert!(Config::load(&path).is_err());
        std::fs::write(&path, "connections:\n  max: 8\n").unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.connections.max, 8);
        assert_eq!(config.connections.head_timeout_secs, 20);
        std::fs::write(&path, "connections:\n  head_timeout_secs: 0\n").unwrap();
        let error = Config::load(&path).unwrap_err().to_string();
        assert!(error.ends_with("`connections.head_timeout_secs` must be at least 1"));
    }

    #[test]
    fn tenant_extensions_load_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("canon.yaml");
        let tenant = "tenants:\n  - id: globex\n    rules: g.rules\n    token_sha256: ab\n";
        std::fs::write(
            &path,
            format!("{tenant}    extensions:\n      aliases:\n        urn:ietf:params:scim:schemas:extension:globex:2.0:User: canon\n      strict: true\n"),
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        let extensions = &config.tenants[0].extensions;
        assert!(extensions.strict);
        assert_eq!(extensions.aliases.len(), 1);
        config.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), config);
        // Written only when set.
        std::fs::write(&path, tenant).unwrap();
        let plain = Config::load(&path).unwrap();
        plain.save(&path).unwrap();
        assert!(!std::fs::read_to_string(&path)
            .unwrap()
            .contains("extensions"));
        std::fs::write(
            &path,
            format!("{tenant}    extensions:\n      aliases:\n        globex: canon\n"),
        )
        .unwrap();
        let error = Config::load(&path).unwrap_err().to_string();
        assert!(
            error
                .contains("tenant `globex`: `extensions.aliases`: `globex` is not a namespace URN"),
            "{error}"
        );
    }
}
