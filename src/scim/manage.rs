//! What an operator does to tenants, shared by `canon tenant …` (on the store) and the admin
//! API (through the service): add, rotate a token, publish rules (checked, previewed, then
//! stored profiles recomputed), roll back, mint a setup link. Blocking (store work).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::config::{new_token, token_hash};
use super::extensions::{self, ExtensionsConfig};
use super::mapper::{self, ProfileMapper};
use crate::store::registry::{
    NewRuleVersion, NewTenant, RateLimit, RuleBundle, RuleVersion, TenantRecord, TokenRecord,
};
use crate::store::{Kind, ProfileRecord, Store, StoreError, StoredResource, TenantId};

/// A failure of an operation, for people: the CLI prints it, the admin API answers it.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("no tenant `{0}`")]
    UnknownTenant(TenantId),
    #[error("tenant `{0}` exists already")]
    Exists(TenantId),
    /// The rules were refused; every diagnostic, rendered. Nothing changed.
    #[error("the rules have errors; nothing changed\n{0}")]
    Rules(String),
    #[error("{0}")]
    Invalid(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// `72h`, `30m`, `7d`, `90s`, `0`: a duration as operators write one.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not a duration: write a number and s, m, h or d (`24h`)");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => Some(number),
        "m" => number.checked_mul(60),
        "h" => number.checked_mul(3600),
        "d" => number.checked_mul(86_400),
        _ => None,
    };
    // Beyond ten years is a typo, and would not fit a timestamp's arithmetic anyway.
    match seconds {
        Some(s) if s <= 10 * 365 * 86_400 => Ok(Duration::from_secs(s)),
        _ => Err(bad()),
    }
}

/// Now plus `duration`, as the registry writes times.
pub fn after(duration: Duration) -> String {
    let delta = chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::zero());
    (chrono::Utc::now() + delta).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A rule file checked and bundled for publishing.
pub struct Checked {
    pub program: Arc<crate::Program>,
    pub bundle: RuleBundle,
}

/// Loads and checks a rule file from disk; refused with every diagnostic.
pub fn check_file(path: &std::path::Path) -> Result<Checked, ManageError> {
    let (program, bundle) = mapper::load_for_publishing(path).map_err(ManageError::Rules)?;
    Ok(Checked { program, bundle })
}

/// Checks a bundle sent whole (the admin API); refused with every diagnostic.
pub fn check_bundle(bundle: RuleBundle) -> Result<Checked, ManageError> {
    let program = mapper::compile_bundle(&bundle).map_err(ManageError::Rules)?;
    Ok(Checked { program, bundle })
}

fn tenant_of(store: &dyn Store, id: &TenantId) -> Result<TenantRecord, ManageError> {
    store
        .tenant(id)?
        .ok_or_else(|| ManageError::UnknownTenant(id.clone()))
}

/// Adds a tenant with `rules` as version 1; the new token (shown once).
pub fn add(
    store: &dyn Store,
    tenant: NewTenant,
    rules: Checked,
    author: &str,
) -> Result<(TenantRecord, String), ManageError> {
    let ExtensionsPolicy(_) = policy(&tenant.extensions)?;
    let token = new_token();
    let version = NewRuleVersion {
        hash: rules.program.version().to_string(),
        bundle: rules.bundle,
        note: "first version".into(),
        author: author.to_string(),
    };
    match store.create_tenant(&tenant, &token_hash(&token), &version) {
        Ok(record) => Ok((record, token)),
        Err(StoreError::Conflict) => Err(ManageError::Exists(tenant.id)),
        Err(error) => Err(error.into()),
    }
}

/// An extensions policy, checked.
pub struct ExtensionsPolicy(pub ExtensionsConfig);

/// Reads and checks an `extensions` policy given as JSON (`{"aliases": {…}, "strict": …}`).
pub fn policy(value: &Value) -> Result<ExtensionsPolicy, ManageError> {
    let config: ExtensionsConfig = serde_json::from_value(value.clone())
        .map_err(|e| ManageError::Invalid(format!("extensions: {e}")))?;
    config.resolve().map_err(ManageError::Invalid)?;
    Ok(ExtensionsPolicy(config))
}

/// A new token for the tenant; the others keep working for `grace` (revoked now if zero).
pub fn rotate(
    store: &dyn Store,
    id: &TenantId,
    grace: Duration,
) -> Result<(TokenRecord, String), ManageError> {
    tenant_of(store, id)?;
    let token = new_token();
    let until = (!grace.is_zero()).then(|| after(grace));
    let record = store.rotate_token(id, &token_hash(&token), until.as_deref())?;
    Ok((record, token))
}

/// Per-field differences between a stored profile and a new one, one line each.
pub fn profile_changes(user: &StoredResource, new: &ProfileRecord) -> Vec<String> {
    let name = user
        .body
        .get("userName")
        .and_then(|v| v.as_str())
        .unwrap_or(&user.id);
    let empty = serde_json::Map::new();
    let old = user
        .profile
        .as_ref()
        .and_then(|p| p.fields.as_object())
        .unwrap_or(&empty);
    let Some(fields) = new.fields.as_object() else {
        return Vec::new();
    };
    let show = |v: Option<&Value>| match v {
        None | Some(Value::Null) => "(unset)".to_string(),
        Some(v) => v.to_string(),
    };
    fields
        .iter()
        .filter(|(k, v)| old.get(*k).unwrap_or(&Value::Null) != *v)
        .map(|(k, v)| format!("{name}\t{k}\t{} -> {}", show(old.get(k)), show(Some(v))))
        .collect()
}

/// What re-applying rules to every stored user of a tenant changes.
pub struct Remap {
    /// One line per changed field: `userName\tfield\told -> new`.
    pub lines: Vec<String>,
    /// Users whose profile changes (fields or rule version).
    pub updates: Vec<(String, ProfileRecord)>,
    pub users: usize,
    pub changed_users: usize,
}

impl Remap {
    pub fn to_json(&self, limit: usize) -> Value {
        json!({
            "users": self.users,
            "changed_users": self.changed_users,
            "changes": self.lines.iter().take(limit).collect::<Vec<_>>(),
            "more_changes": self.lines.len().saturating_sub(limit),
        })
    }
}

/// Re-applies `mapper` to every stored user of the tenant, writing nothing.
pub fn preview(
    store: &dyn Store,
    tenant: &TenantId,
    mapper: &dyn ProfileMapper,
) -> Result<Remap, ManageError> {
    let users = store.list(tenant, Kind::User)?;
    let mut lines = Vec::new();
    let mut updates = Vec::new();
    let mut changed_users = 0;
    // In the tenant's population where the rules count reports, as every write maps them.
    let profiles = super::org::map_all(&users, mapper);
    for (user, new) in users.iter().zip(profiles) {
        let changes = profile_changes(user, &new);
        if !changes.is_empty() {
            changed_users += 1;
        }
        let version_changed =
            user.profile.as_ref().map(|p| &p.rule_version) != Some(&new.rule_version);
        lines.extend(changes.iter().cloned());
        if !changes.is_empty() || version_changed {
            updates.push((user.id.clone(), new));
        }
    }
    Ok(Remap {
        lines,
        updates,
        users: users.len(),
        changed_users,
    })
}

/// The tenant's program as the service runs it: read through its extension aliases.
pub fn served(
    record: &TenantRecord,
    program: Arc<crate::Program>,
) -> Result<Arc<dyn ProfileMapper>, ManageError> {
    let ExtensionsPolicy(config) = policy(&record.extensions)?;
    let resolved = config.resolve().map_err(ManageError::Invalid)?;
    Ok(extensions::aliased(program, Arc::new(resolved)))
}

/// What `set-rules` would do, or did.
pub struct Published {
    pub remap: Remap,
    /// `None` for a preview.
    pub version: Option<RuleVersion>,
}

/// Previews the remap of `rules` over the tenant's stored users; with `publish`, stores the
/// version (live) and writes the recomputed profiles. A version equal to the live one
/// (same content hash) is refused: nothing would change.
pub fn set_rules(
    store: &dyn Store,
    id: &TenantId,
    rules: Checked,
    note: &str,
    author: &str,
    publish: bool,
) -> Result<Published, ManageError> {
    let record = tenant_of(store, id)?;
    let hash = rules.program.version().to_string();
    if let Some(live) = record.live_version {
        if store
            .rule_version(id, live)?
            .is_some_and(|v| v.hash == hash)
        {
            return Err(ManageError::Invalid(format!(
                "these rules ({hash}) are the live version {live} already; nothing changed"
            )));
        }
    }
    let mapper = served(&record, rules.program.clone())?;
    let remap = preview(store, id, &*mapper)?;
    if !publish {
        return Ok(Published {
            remap,
            version: None,
        });
    }
    let version = store.publish_rules(
        id,
        &NewRuleVersion {
            hash,
            bundle: rules.bundle,
            note: note.to_string(),
            author: author.to_string(),
        },
    )?;
    store.set_profiles(id, &remap.updates)?;
    refresh_org_index(store, id, &mapper);
    Ok(Published {
        remap,
        version: Some(version),
    })
}

/// After a publish or a rollback: the store's index of the organisation graph made current
/// for the rules now live. Else the next user write rebuilds it inside the IdP's request
/// (seconds for a large customer, holding SQLite's writer), and the console's passes and
/// user pages read around it until then. A failure loses nothing: the next write rebuilds.
fn refresh_org_index(store: &dyn Store, id: &TenantId, mapper: &Arc<dyn ProfileMapper>) {
    if let Some(rules) = super::org::rules(mapper) {
        if let Err(error) = store.org_refresh(id, &rules) {
            tracing::warn!(%error, tenant = %id, "the organisation index was not refreshed after a rules change; the next user write will");
        }
    }
}

/// Makes version `number` live again and recomputes the stored profiles with it (previewed
/// only without `apply`).
pub fn rollback(
    store: &dyn Store,
    id: &TenantId,
    number: i64,
    apply: bool,
) -> Result<Published, ManageError> {
    let record = tenant_of(store, id)?;
    let version = store.rule_version(id, number)?.ok_or_else(|| {
        ManageError::Invalid(format!("tenant `{id}` has no rule version {number}"))
    })?;
    if record.live_version == Some(number) {
        return Err(ManageError::Invalid(format!(
            "version {number} is live already; nothing changed"
        )));
    }
    let program = mapper::compile_bundle(&version.bundle).map_err(ManageError::Rules)?;
    let mapper = served(&record, program)?;
    let remap = preview(store, id, &*mapper)?;
    if apply {
        store.set_live_version(id, number)?;
        store.set_profiles(id, &remap.updates)?;
        refresh_org_index(store, id, &mapper);
    }
    Ok(Published {
        remap,
        version: Some(version),
    })
}

/// A setup link's secret: 32 random bytes, hex (the URL carries it; the store its hash).
pub fn new_setup_link(
    store: &dyn Store,
    id: &TenantId,
    expires_in: Duration,
) -> Result<(String, String), ManageError> {
    tenant_of(store, id)?;
    if expires_in.is_zero() {
        return Err(ManageError::Invalid(
            "a setup link must last longer than 0".into(),
        ));
    }
    let secret = new_token();
    let expires = after(expires_in);
    store.create_setup_link(id, &token_hash(&secret), &expires)?;
    Ok((secret, expires))
}

/// A tenant's settings as the CLI and the admin API show them.
pub fn tenant_json(record: &TenantRecord) -> Value {
    json!({
        "id": record.id,
        "enabled": record.enabled,
        "live_version": record.live_version,
        "rate_limit": record.rate_limit.to_string(),
        "extensions": record.extensions,
        "body_capture_until": record.body_capture_until,
        "created": record.created,
    })
}

/// A token as shown: never its hash.
pub fn token_json(token: &TokenRecord) -> Value {
    let now = crate::store::now();
    json!({
        "id": token.id,
        "created": token.created,
        "expires": token.expires,
        "revoked": token.revoked,
        "live": token.live(&now),
    })
}

/// A rule version as listed (without its bundle).
pub fn version_json(version: &RuleVersion, live: Option<i64>) -> Value {
    json!({
        "number": version.number,
        "hash": version.hash,
        "live": live == Some(version.number),
        "note": version.note,
        "author": version.author,
        "created": version.created,
        "file": version.bundle.name,
        "files": version.bundle.files.iter().map(|(path, _)| path).collect::<Vec<_>>(),
    })
}

/// `--rate-limit` / `rate_limit`: requests per second, `off` or `default`.
pub fn rate_limit(text: &str) -> Result<RateLimit, ManageError> {
    RateLimit::parse(text).map_err(ManageError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A published or rolled-back version recomputes profiles in the tenant's population:
    /// mapped alone, a manager named by two reports lost its derived `yes`.
    #[test]
    fn a_preview_maps_users_in_their_population() {
        let store = crate::store::MemoryStore::new();
        let acme = TenantId::parse("acme").unwrap();
        let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/default.rules");
        let program = Arc::new(crate::Program::load(std::path::Path::new(rules)).unwrap());
        let user = |name: &str, manager: Option<&str>| {
            let mut body = serde_json::json!({"userName": format!("{name}@acme.com"),
                "name": {"givenName": name, "familyName": "Test"}, "active": true});
            if let Some(manager) = manager {
                body["urn:ietf:params:scim:schemas:extension:canon:2.0:User"] =
                    serde_json::json!({"managerEmail": manager});
            }
            crate::store::Write {
                body,
                unique_key: Some(format!("{name}@acme.com")),
                profile: None,
            }
        };
        use crate::store::ResourceStore;
        let boss = store.create(&acme, Kind::User, user("boss", None)).unwrap();
        for name in ["ana", "bo"] {
            store
                .create(&acme, Kind::User, user(name, Some("boss@acme.com")))
                .unwrap();
        }
        let remap = preview(&store, &acme, program.as_ref()).unwrap();
        let (_, profile) = remap.updates.iter().find(|(id, _)| *id == boss.id).unwrap();
        assert_eq!(profile.fields["people_manager"], serde_json::json!("yes"));
    }

    /// A version published or rolled back by `canon tenant` or the admin API leaves the
    /// store's index of the graph made under the rules now live: the next IdP write does
    /// not rebuild it inside its request, and the console reads it.
    #[test]
    fn publishing_and_rolling_back_make_the_org_index_current() {
        use crate::store::registry::TenantRegistry;
        use crate::store::ResourceStore;
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SqliteStore::open(&dir.path().join("canon.db")).unwrap();
        let acme = TenantId::parse("acme").unwrap();
        let pack = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/default.rules");
        let first = check_file(std::path::Path::new(pack)).unwrap();
        let tenant = NewTenant {
            id: acme.clone(),
            extensions: json!({}),
            rate_limit: RateLimit::default(),
        };
        add(&store, tenant, first, "test").unwrap();
        let body = |name: &str| {
            serde_json::json!({"userName": format!("{name}@acme.com"), "active": true,
                "urn:ietf:params:scim:schemas:extension:canon:2.0:User":
                    {"managerEmail": "boss@acme.com"}})
        };
        for name in ["boss", "ana", "bo"] {
            let write = crate::store::Write {
                body: body(name),
                unique_key: Some(format!("{name}@acme.com")),
                profile: None,
            };
            store.create(&acme, Kind::User, write).unwrap();
        }
        let changed = dir.path().join("acme.rules");
        std::fs::write(
            &changed,
            format!("# acme: a second version\nextends {pack:?}\n"),
        )
        .unwrap();
        let index_under = |version: i64| {
            let record = tenant_of(&store, &acme).unwrap();
            let bundle = store.rule_version(&acme, version).unwrap().unwrap().bundle;
            let program = mapper::compile_bundle(&bundle).unwrap();
            let signature = served(&record, program).unwrap().org_signature();
            store
                .org_reports(&acme, &signature, &[], 0)
                .unwrap()
                .is_some()
        };
        let rules = check_file(&changed).unwrap();
        set_rules(&store, &acme, rules, "second", "test", true).unwrap();
        assert!(index_under(2), "made current by the publish");
        rollback(&store, &acme, 1, true).unwrap();
        assert!(index_under(1), "made current by the rollback");
    }

    #[test]
    fn durations_read_as_operators_write_them() {
        assert_eq!(parse_duration("72h"), Ok(Duration::from_secs(72 * 3600)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "h", "12", "-1h", "1w", "99999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
