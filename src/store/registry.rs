//! The tenant registry: who the tenants are, their tokens, their rule versions, their setup
//! links and their recent activity, kept in the store so every `canon serve` sharing it sees
//! the same tenants.
//!
//! Every change to tenants, tokens, rule versions or setup links bumps one counter, the
//! [`TenantRegistry::generation`]; a running service polls it and reloads its tenants when it
//! moves (activity is not a change: it never bumps it). Nothing secret is stored: tokens and
//! setup-link secrets are kept as SHA-256 hashes (hex).
//!
//! Times are RFC 3339 UTC strings with milliseconds (`2026-12-05T21:50:00.000Z`), as
//! [`super::now`] writes them, so they compare as text.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{StoreError, TenantId};

/// How many activity entries a tenant keeps; older ones are dropped as new ones come.
pub const ACTIVITY_KEPT: usize = 1000;

/// A tenant's request rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimit {
    /// The service's default.
    #[default]
    Default,
    /// No limit.
    Off,
    /// At most this many requests per second (sustained).
    PerSecond(u32),
}

impl RateLimit {
    /// `default`, `off` or a number of requests per second (at least 1).
    pub fn parse(text: &str) -> Result<RateLimit, String> {
        match text.trim() {
            "default" => Ok(RateLimit::Default),
            "off" => Ok(RateLimit::Off),
            number => match number.parse::<u32>() {
                Ok(rps) if rps > 0 => Ok(RateLimit::PerSecond(rps)),
                _ => Err(format!(
                    "`{text}` is not a rate limit: give requests per second (1 or more), `off` or `default`"
                )),
            },
        }
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RateLimit::Default => f.write_str("default"),
            RateLimit::Off => f.write_str("off"),
            RateLimit::PerSecond(rps) => write!(f, "{rps}"),
        }
    }
}

/// One tenant's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRecord {
    pub id: TenantId,
    /// A disabled tenant's SCIM requests are refused (403); its data stays.
    pub enabled: bool,
    /// The `extensions:` policy (aliases, strict), as JSON: the SCIM layer reads it.
    pub extensions: Value,
    pub rate_limit: RateLimit,
    /// Request bodies are kept in the activity log until then (debugging), never after.
    pub body_capture_until: Option<String>,
    /// The rule version serving now ([`RuleVersion::number`]).
    pub live_version: Option<i64>,
    pub created: String,
}

impl TenantRecord {
    /// Whether request bodies are captured at `now`.
    pub fn captures_bodies(&self, now: &str) -> bool {
        self.body_capture_until
            .as_deref()
            .is_some_and(|until| until > now)
    }
}

/// A new tenant's settings (enabled, no body capture).
#[derive(Debug, Clone, PartialEq)]
pub struct NewTenant {
    pub id: TenantId,
    pub extensions: Value,
    pub rate_limit: RateLimit,
}

/// A change of settings: `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantChange {
    pub enabled: Option<bool>,
    pub extensions: Option<Value>,
    pub rate_limit: Option<RateLimit>,
    /// `Some(None)` turns body capture off.
    pub body_capture_until: Option<Option<String>>,
}

/// One bearer token of a tenant (its SHA-256 only).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    /// Unique in the registry; names the token for `revoke-token`.
    pub id: i64,
    pub sha256: String,
    pub created: String,
    /// After a rotation, the old token works until then (the grace period).
    pub expires: Option<String>,
    pub revoked: Option<String>,
}

impl TokenRecord {
    /// Whether the token is accepted at `now`.
    pub fn live(&self, now: &str) -> bool {
        self.revoked.is_none() && self.expires.as_deref().is_none_or(|until| until > now)
    }
}

/// A rule file with everything its load reads, so any instance compiles it without files:
/// the rule file's text and, by path as the rule files name them (relative to the rule
/// file's folder), every file of its `extends` chain and every table CSV.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleBundle {
    /// How diagnostics cite the rule file (its file name).
    pub name: String,
    pub text: String,
    pub files: Vec<(String, Vec<u8>)>,
}

/// A rule version to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRuleVersion {
    /// The program's content hash ([`crate::Program::version`]).
    pub hash: String,
    pub bundle: RuleBundle,
    pub note: String,
    pub author: String,
}

/// A published rule version; versions are never changed or deleted (but with the tenant).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleVersion {
    /// 1, 2, 3… per tenant, in publication order.
    pub number: i64,
    pub hash: String,
    pub bundle: RuleBundle,
    pub note: String,
    pub author: String,
    pub created: String,
}

/// A one-time setup link (its secret's SHA-256 only).
#[derive(Debug, Clone, PartialEq)]
pub struct SetupLink {
    pub secret_sha256: String,
    pub tenant: TenantId,
    pub created: String,
    pub expires: String,
    /// When the link was viewed (and its token minted); it cannot be viewed again.
    pub spent: Option<String>,
}

/// What spending a setup link did.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkSpend {
    /// The link was valid: it is now spent and the token was added to its tenant.
    Spent(SetupLink),
    /// Spent already, or expired: nothing changed.
    Gone(SetupLink),
}

/// One request to a tenant's SCIM endpoints.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ActivityEntry {
    /// Assigned by the store, increasing: `--follow` asks for what came after the last.
    #[serde(default)]
    pub seq: i64,
    pub tenant: String,
    pub at: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub latency_us: u64,
    /// The SCIM error `detail` of a failed request.
    pub error: Option<String>,
    /// The user or group the request was about.
    pub resource_id: Option<String>,
    /// The `x-request-id` of the request (the logs carry it too).
    pub request_id: Option<String>,
    /// The request body, only while the tenant captures bodies.
    pub body: Option<String>,
}

impl ActivityEntry {
    pub fn failed(&self) -> bool {
        self.status >= 400
    }
}

/// Which entries [`TenantRegistry::activity`] returns: the newest `limit` of those after
/// `after` (a `seq`), oldest first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivityQuery {
    pub errors_only: bool,
    pub after: Option<i64>,
    pub limit: usize,
}

/// A tenant's request counts since it was added (not bounded like the entries).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ActivityCounters {
    pub requests: u64,
    /// Status 400–499.
    pub client_errors: u64,
    /// Status 500 and above.
    pub server_errors: u64,
    pub last_request: Option<String>,
    pub last_error: Option<String>,
}

/// The registry's capabilities. Every method is one transaction; every change but activity
/// bumps the [`generation`](TenantRegistry::generation).
pub trait TenantRegistry: Send + Sync {
    /// The change counter: any change to tenants, tokens, rule versions or setup links moves
    /// it (upwards). A service polls it to know when to reload its tenants.
    fn generation(&self) -> Result<i64, StoreError>;

    /// Adds a tenant with its first token and its first rule version (live).
    /// `Err(StoreError::Conflict)` if the id is taken.
    fn create_tenant(
        &self,
        tenant: &NewTenant,
        token_sha256: &str,
        rules: &NewRuleVersion,
    ) -> Result<TenantRecord, StoreError>;
    fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError>;
    /// Every tenant, by id.
    fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError>;
    fn update_tenant(
        &self,
        id: &TenantId,
        change: &TenantChange,
    ) -> Result<TenantRecord, StoreError>;
    /// Deletes the tenant, its tokens, versions, links and activity, and every resource it
    /// stored (users, groups, profiles). `Err(StoreError::NotFound)` if there is none.
    fn remove_tenant(&self, id: &TenantId) -> Result<(), StoreError>;

    /// The tenant's tokens, live or not, oldest first.
    fn tokens(&self, tenant: &TenantId) -> Result<Vec<TokenRecord>, StoreError>;
    /// Adds a token; every other live token of the tenant then works until `others_until`
    /// (a grace period), or is revoked now when it is `None`.
    fn rotate_token(
        &self,
        tenant: &TenantId,
        token_sha256: &str,
        others_until: Option<&str>,
    ) -> Result<TokenRecord, StoreError>;
    /// Adds a token and leaves the others as they are.
    fn add_token(&self, tenant: &TenantId, token_sha256: &str) -> Result<TokenRecord, StoreError>;
    /// Revokes one token of the tenant now. `Err(StoreError::NotFound)` if it has no such one.
    fn revoke_token(&self, tenant: &TenantId, token: i64) -> Result<TokenRecord, StoreError>;

    /// Publishes a rule version (the next number) and makes it live.
    fn publish_rules(
        &self,
        tenant: &TenantId,
        version: &NewRuleVersion,
    ) -> Result<RuleVersion, StoreError>;
    /// Every version of the tenant, oldest first.
    fn rule_versions(&self, tenant: &TenantId) -> Result<Vec<RuleVersion>, StoreError>;
    fn rule_version(
        &self,
        tenant: &TenantId,
        number: i64,
    ) -> Result<Option<RuleVersion>, StoreError>;
    /// Makes an existing version live again (a rollback). `Err(StoreError::NotFound)` if the
    /// tenant has no such version.
    fn set_live_version(&self, tenant: &TenantId, number: i64) -> Result<(), StoreError>;

    /// Stores a setup link for the tenant, valid until `expires`.
    fn create_setup_link(
        &self,
        tenant: &TenantId,
        secret_sha256: &str,
        expires: &str,
    ) -> Result<SetupLink, StoreError>;
    fn setup_link(&self, secret_sha256: &str) -> Result<Option<SetupLink>, StoreError>;
    /// Spends a valid link and adds `token_sha256` to its tenant, in one transaction; a link
    /// spent already or expired is [`LinkSpend::Gone`] and nothing changes.
    /// `Err(StoreError::NotFound)` if there is no such link.
    fn spend_setup_link(
        &self,
        secret_sha256: &str,
        token_sha256: &str,
    ) -> Result<LinkSpend, StoreError>;

    /// Appends entries (their `seq` is ignored and assigned), counts them, and drops each
    /// tenant's entries beyond the newest [`ACTIVITY_KEPT`]. Does not bump the generation.
    fn record_activity(&self, entries: &[ActivityEntry]) -> Result<(), StoreError>;
    fn activity(
        &self,
        tenant: &TenantId,
        query: &ActivityQuery,
    ) -> Result<Vec<ActivityEntry>, StoreError>;
    fn activity_counters(&self, tenant: &TenantId) -> Result<ActivityCounters, StoreError>;
}

/// The newest `query.limit` of `entries` (oldest first) that `query` selects.
pub(crate) fn select_activity(
    entries: impl DoubleEndedIterator<Item = ActivityEntry>,
    query: &ActivityQuery,
) -> Vec<ActivityEntry> {
    let mut picked: Vec<ActivityEntry> = entries
        .rev()
        .filter(|e| query.after.is_none_or(|after| e.seq > after))
        .filter(|e| !query.errors_only || e.failed())
        .take(query.limit)
        .collect();
    picked.reverse();
    picked
}

/// Adds `entry` to `counters`.
pub(crate) fn count(counters: &mut ActivityCounters, entry: &ActivityEntry) {
    counters.requests += 1;
    if entry.status >= 500 {
        counters.server_errors += 1;
    } else if entry.status >= 400 {
        counters.client_errors += 1;
    }
    if counters.last_request.as_deref() < Some(entry.at.as_str()) {
        counters.last_request = Some(entry.at.clone());
    }
    if entry.failed() && counters.last_error.as_deref() < Some(entry.at.as_str()) {
        counters.last_error = Some(entry.at.clone());
    }
}

#[cfg(test)]
pub(crate) mod contract {
    //! The registry behaviour every backend must have (SQLite, memory, PostgreSQL).
    use super::*;
    use crate::store::{Kind, ResourceStore, Write};
    use serde_json::json;

    fn id(text: &str) -> TenantId {
        TenantId::parse(text).unwrap()
    }

    pub fn rules(text: &str) -> NewRuleVersion {
        NewRuleVersion {
            hash: format!("h-{}", text.len()),
            bundle: RuleBundle {
                name: "acme.rules".into(),
                text: text.into(),
                files: vec![
                    ("../base.rules".into(), b"field a: text\n".to_vec()),
                    ("titles.csv".into(), vec![0xff, b',', b'\n']),
                ],
            },
            note: "first".into(),
            author: "cs@example.com".into(),
        }
    }

    fn new_tenant(text: &str) -> NewTenant {
        NewTenant {
            id: id(text),
            extensions: json!({"strict": true}),
            rate_limit: RateLimit::PerSecond(25),
        }
    }

    /// A time far behind or ahead of now.
    const PAST: &str = "2000-01-01T00:00:00.000Z";
    const FUTURE: &str = "2999-01-01T00:00:00.000Z";

    /// Runs every registry test on `store`, which must be empty.
    pub fn run<S: TenantRegistry + ResourceStore>(store: &S) {
        tenants(store);
        tokens(store);
        rule_versions(store);
        setup_links(store);
        activity(store);
        removing_a_tenant_deletes_its_data(store);
    }

    fn tenants(store: &dyn TenantRegistry) {
        let start = store.generation().unwrap();
        let created = store
            .create_tenant(&new_tenant("acme"), "aa11", &rules("v1"))
            .unwrap();
        assert!(created.enabled);
        assert_eq!(created.live_version, Some(1));
        assert_eq!(created.rate_limit, RateLimit::PerSecond(25));
        assert_eq!(created.extensions, json!({"strict": true}));
        assert!(store.generation().unwrap() > start);
        assert!(matches!(
            store.create_tenant(&new_tenant("acme"), "bb22", &rules("v1")),
            Err(StoreError::Conflict)
        ));
        assert_eq!(store.tenant(&id("acme")).unwrap(), Some(created.clone()));
        store
            .create_tenant(&new_tenant("beta"), "cc33", &rules("v1"))
            .unwrap();
        let ids: Vec<String> = store
            .tenants()
            .unwrap()
            .into_iter()
            .map(|t| t.id.to_string())
            .collect();
        assert_eq!(ids, ["acme", "beta"]);
        assert_eq!(store.tenant(&id("nobody")).unwrap(), None);

        let before = store.generation().unwrap();
        let changed = store
            .update_tenant(
                &id("acme"),
                &TenantChange {
                    enabled: Some(false),
                    rate_limit: Some(RateLimit::Off),
                    body_capture_until: Some(Some(FUTURE.into())),
                    ..TenantChange::default()
                },
            )
            .unwrap();
        assert!(store.generation().unwrap() > before);
        assert!(!changed.enabled);
        assert_eq!(changed.rate_limit, RateLimit::Off);
        assert!(changed.captures_bodies(&crate::store::now()));
        assert_eq!(changed.extensions, created.extensions, "left as it was");
        assert_eq!(store.tenant(&id("acme")).unwrap(), Some(changed));
        let changed = store
            .update_tenant(
                &id("acme"),
                &TenantChange {
                    enabled: Some(true),
                    extensions: Some(json!({})),
                    body_capture_until: Some(None),
                    ..TenantChange::default()
                },
            )
            .unwrap();
        assert!(changed.enabled && changed.body_capture_until.is_none());
        assert_eq!(changed.rate_limit, RateLimit::Off);
        assert!(matches!(
            store.update_tenant(&id("nobody"), &TenantChange::default()),
            Err(StoreError::NotFound)
        ));
    }

    fn tokens(store: &dyn TenantRegistry) {
        let acme = id("acme");
        let first = store.tokens(&acme).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].sha256, "aa11");
        assert!(first[0].live(&crate::store::now()));

        // A rotation with a grace period: both work until it ends.
        let before = store.generation().unwrap();
        let second = store.rotate_token(&acme, "dd44", Some(FUTURE)).unwrap();
        assert!(store.generation().unwrap() > before);
        let now = crate::store::now();
        let tokens = store.tokens(&acme).unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].expires.as_deref(), Some(FUTURE));
        assert!(tokens.iter().all(|t| t.live(&now)));
        assert_eq!(tokens[1], second);
        assert!(second.expires.is_none());
        // A grace period that has ended: the old ones stop, only the new one works.
        let third = store.rotate_token(&acme, "ee55", Some(PAST)).unwrap();
        let live: Vec<String> = store
            .tokens(&acme)
            .unwrap()
            .into_iter()
            .filter(|t| t.live(&now))
            .map(|t| t.sha256)
            .collect();
        assert_eq!(live, ["ee55"]);
        // A rotation without grace revokes the others now; an expired one keeps its expiry.
        store.rotate_token(&acme, "ff66", None).unwrap();
        let tokens = store.tokens(&acme).unwrap();
        let by_hash = |h: &str| tokens.iter().find(|t| t.sha256 == h).unwrap().clone();
        assert!(by_hash("ee55").revoked.is_some());
        assert!(by_hash("aa11").revoked.is_none() && !by_hash("aa11").live(&now));
        assert!(by_hash("ff66").live(&now));
        // add_token leaves the others; revoke_token stops one.
        let added = store.add_token(&acme, "0a0a").unwrap();
        assert!(by_hash("ff66").live(&crate::store::now()));
        let revoked = store.revoke_token(&acme, added.id).unwrap();
        assert!(revoked.revoked.is_some() && !revoked.live(&crate::store::now()));
        assert!(matches!(
            store.revoke_token(&id("beta"), third.id),
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.rotate_token(&id("nobody"), "1b1b", None),
            Err(StoreError::NotFound)
        ));
        // Hashes are unique across tenants: one token names one tenant.
        assert!(matches!(
            store.add_token(&id("beta"), "ff66"),
            Err(StoreError::Conflict)
        ));
    }

    fn rule_versions(store: &dyn TenantRegistry) {
        let acme = id("acme");
        let before = store.generation().unwrap();
        let mut second = rules("v2 text");
        second.note = "titles for sales".into();
        let published = store.publish_rules(&acme, &second).unwrap();
        assert!(store.generation().unwrap() > before);
        assert_eq!(published.number, 2);
        assert_eq!(
            published.bundle, second.bundle,
            "the bundle comes back whole"
        );
        assert_eq!(published.note, "titles for sales");
        assert_eq!(store.tenant(&acme).unwrap().unwrap().live_version, Some(2));
        let versions = store.rule_versions(&acme).unwrap();
        assert_eq!(
            versions.iter().map(|v| v.number).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(versions[0].bundle, rules("v1").bundle);
        assert_eq!(versions[1], published);
        assert_eq!(store.rule_version(&acme, 2).unwrap(), Some(published));
        assert_eq!(store.rule_version(&acme, 7).unwrap(), None);
        // Another tenant numbers its own.
        assert_eq!(store.rule_versions(&id("beta")).unwrap().len(), 1);

        let before = store.generation().unwrap();
        store.set_live_version(&acme, 1).unwrap();
        assert!(store.generation().unwrap() > before);
        assert_eq!(store.tenant(&acme).unwrap().unwrap().live_version, Some(1));
        assert!(matches!(
            store.set_live_version(&acme, 9),
            Err(StoreError::NotFound)
        ));
        // The next publication is 3, whatever is live.
        assert_eq!(store.publish_rules(&acme, &rules("v3")).unwrap().number, 3);
        assert!(matches!(
            store.publish_rules(&id("nobody"), &rules("v1")),
            Err(StoreError::NotFound)
        ));
    }

    fn setup_links(store: &dyn TenantRegistry) {
        let beta = id("beta");
        let before = store.generation().unwrap();
        let link = store.create_setup_link(&beta, "5ec1", FUTURE).unwrap();
        assert!(store.generation().unwrap() > before);
        assert_eq!(
            (link.tenant.as_str(), link.spent.as_deref()),
            ("beta", None)
        );
        assert_eq!(store.setup_link("5ec1").unwrap(), Some(link.clone()));
        assert_eq!(store.setup_link("none").unwrap(), None);
        let spent = match store.spend_setup_link("5ec1", "7070").unwrap() {
            LinkSpend::Spent(spent) => spent,
            other => panic!("{other:?}"),
        };
        assert!(spent.spent.is_some());
        assert!(store
            .tokens(&beta)
            .unwrap()
            .iter()
            .any(|t| t.sha256 == "7070"));
        // The second view changes nothing.
        let generation = store.generation().unwrap();
        assert!(matches!(
            store.spend_setup_link("5ec1", "7171").unwrap(),
            LinkSpend::Gone(_)
        ));
        assert_eq!(store.generation().unwrap(), generation);
        assert!(!store
            .tokens(&beta)
            .unwrap()
            .iter()
            .any(|t| t.sha256 == "7171"));
        // An expired link is gone without a view.
        store.create_setup_link(&beta, "01d1", PAST).unwrap();
        assert!(matches!(
            store.spend_setup_link("01d1", "7272").unwrap(),
            LinkSpend::Gone(_)
        ));
        assert!(matches!(
            store.spend_setup_link("none", "7373"),
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.create_setup_link(&id("nobody"), "5ec2", FUTURE),
            Err(StoreError::NotFound)
        ));
    }

    fn entry(tenant: &str, n: usize, status: u16) -> ActivityEntry {
        ActivityEntry {
            tenant: tenant.into(),
            at: format!("2026-01-01T00:00:{:02}.{:03}Z", n / 1000 % 60, n % 1000),
            method: "POST".into(),
            path: format!("/t/{tenant}/scim/v2/Users"),
            status,
            latency_us: 1500,
            error: (status >= 400).then(|| "userName is already taken".into()),
            resource_id: Some(format!("u{n}")),
            request_id: Some(format!("r{n}")),
            body: None,
            ..ActivityEntry::default()
        }
    }

    fn activity(store: &dyn TenantRegistry) {
        let acme = id("acme");
        let generation = store.generation().unwrap();
        let all = ActivityQuery {
            errors_only: false,
            after: None,
            limit: 10_000,
        };
        assert!(store.activity(&acme, &all).unwrap().is_empty());
        assert_eq!(
            store.activity_counters(&acme).unwrap(),
            ActivityCounters::default()
        );
        let mut batch: Vec<ActivityEntry> = (0..5)
            .map(|n| entry("acme", n, if n == 3 { 409 } else { 201 }))
            .collect();
        batch.push(entry("beta", 9, 500));
        batch[1].body = Some(r#"{"userName":"ana"}"#.into());
        store.record_activity(&batch).unwrap();
        assert_eq!(store.generation().unwrap(), generation, "not a change");
        let read = store.activity(&acme, &all).unwrap();
        assert_eq!(read.len(), 5);
        let mut expected = batch[..5].to_vec();
        for (e, r) in expected.iter_mut().zip(&read) {
            e.seq = r.seq;
        }
        assert_eq!(read, expected, "every field comes back");
        assert!(read.windows(2).all(|w| w[0].seq < w[1].seq));
        let errors = store
            .activity(
                &acme,
                &ActivityQuery {
                    errors_only: true,
                    ..all
                },
            )
            .unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].status, 409);
        // `after` and `limit`: the newest of what came after, oldest first.
        let after = store
            .activity(
                &acme,
                &ActivityQuery {
                    after: Some(read[1].seq),
                    limit: 2,
                    ..all
                },
            )
            .unwrap();
        assert_eq!(
            after.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [read[3].seq, read[4].seq]
        );
        let counters = store.activity_counters(&acme).unwrap();
        assert_eq!(
            (
                counters.requests,
                counters.client_errors,
                counters.server_errors
            ),
            (5, 1, 0)
        );
        assert_eq!(counters.last_request.as_deref(), Some(batch[4].at.as_str()));
        assert_eq!(counters.last_error.as_deref(), Some(batch[3].at.as_str()));
        assert_eq!(
            store.activity_counters(&id("beta")).unwrap().server_errors,
            1
        );

        // Bounded: the newest ACTIVITY_KEPT stay; the counters keep counting.
        let many: Vec<ActivityEntry> = (0..ACTIVITY_KEPT + 10)
            .map(|n| entry("acme", 100 + n, 200))
            .collect();
        store.record_activity(&many).unwrap();
        let read = store.activity(&acme, &all).unwrap();
        assert_eq!(read.len(), ACTIVITY_KEPT);
        assert_eq!(
            read.last().unwrap().resource_id,
            many.last().unwrap().resource_id
        );
        assert_eq!(read[0].resource_id, many[10].resource_id);
        assert_eq!(
            store.activity_counters(&acme).unwrap().requests,
            5 + ACTIVITY_KEPT as u64 + 10
        );
        assert_eq!(store.activity(&id("beta"), &all).unwrap().len(), 1);
    }

    fn removing_a_tenant_deletes_its_data<S: TenantRegistry + ResourceStore>(store: &S) {
        let beta = id("beta");
        let user = Write {
            body: json!({"userName": "ana"}),
            unique_key: Some("ana".into()),
            profile: None,
        };
        store.create(&beta, Kind::User, user.clone()).unwrap();
        store.create(&id("acme"), Kind::User, user).unwrap();
        let before = store.generation().unwrap();
        store.remove_tenant(&beta).unwrap();
        assert!(store.generation().unwrap() > before);
        assert_eq!(store.tenant(&beta).unwrap(), None);
        assert!(store.tokens(&beta).unwrap().is_empty());
        assert!(store.rule_versions(&beta).unwrap().is_empty());
        assert_eq!(store.setup_link("5ec1").unwrap(), None);
        let all = ActivityQuery {
            errors_only: false,
            after: None,
            limit: 10,
        };
        assert!(store.activity(&beta, &all).unwrap().is_empty());
        assert_eq!(
            store.activity_counters(&beta).unwrap(),
            ActivityCounters::default()
        );
        assert!(store.list(&beta, Kind::User).unwrap().is_empty());
        assert!(store
            .find_by(&beta, Kind::User, crate::store::IndexedAttr::Email, "x")
            .unwrap()
            .is_empty());
        // Its token no longer names anyone and may be used again; the other tenant is whole.
        assert_eq!(store.list(&id("acme"), Kind::User).unwrap().len(), 1);
        assert!(matches!(
            store.remove_tenant(&beta),
            Err(StoreError::NotFound)
        ));
        store
            .create_tenant(&new_tenant("beta"), "cc33", &rules("v1"))
            .unwrap();
        assert_eq!(store.rule_versions(&beta).unwrap()[0].number, 1);
    }
}
