//! `canon tenant …`: the tenant registry in the store named by `--config` (its `database`)
//! or `--database`. A running `canon serve` on the same store follows every change within a
//! second; no reload, no restart. Tokens are printed once and stored as hashes only.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::scim::config::{new_token, token_hash, Config};
use crate::scim::manage::{self, ManageError};
use crate::scim::serve::open_registry_store;
use crate::scim::tenants::import_config;
use crate::store::registry::{ActivityEntry, ActivityQuery, NewTenant, TenantChange};
use crate::store::{Store, TenantId};

use super::{fail_usage, print_out, EXIT_OK, EXIT_PROBLEMS};

#[derive(clap::Args, Clone)]
pub struct StoreArgs {
    /// The service config (`canon tenant add` creates it, with an admin token).
    #[arg(long, default_value = "canon.yaml")]
    config: PathBuf,
    /// The database, instead of the config's `database`: a SQLite file or a
    /// `postgres://` URL.
    #[arg(long)]
    database: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum TenantCommand {
    /// Add a tenant with its rules; print its SCIM base URL and bearer token (once).
    Add {
        /// Tenant id: lowercase letters, digits and `-`.
        id: String,
        /// The tenant's rule file (checked, then stored with every file it reads).
        #[arg(long)]
        rules: PathBuf,
        /// Requests per second, `off`, or `default`.
        #[arg(long)]
        rate_limit: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Every tenant: state, live rule version, rate limit, requests and errors.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// One tenant: settings, tokens, rule versions, activity counters.
    Show {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Change a tenant's settings.
    Set {
        id: String,
        /// Requests per second, `off`, or `default`.
        #[arg(long)]
        rate_limit: Option<String>,
        /// Keep request bodies in the activity log for this long (`2h`), or `off`.
        #[arg(long)]
        body_capture: Option<String>,
        /// Read the customer's extension namespace URN as another (`URN=canon`,
        /// `URN=enterprise`, `URN=URN2`); repeat for several; replaces the aliases.
        #[arg(long = "alias", value_name = "URN=TARGET")]
        aliases: Vec<String>,
        /// Refuse extension namespaces that neither Canon nor an alias defines.
        #[arg(long)]
        strict: Option<bool>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Stop serving a tenant: its requests get 403; its data stays.
    Disable {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Serve a disabled tenant again.
    Enable {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete a tenant and every user, group and profile it stored.
    Remove {
        id: String,
        /// Do not ask for the id to be typed.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// A new token (printed once); the old ones work for the grace period, then stop.
    RotateToken {
        id: String,
        /// How long the old tokens keep working (`24h`); without it they stop now.
        #[arg(long, default_value = "0")]
        grace: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Stop one token now (its number from `canon tenant show`).
    RevokeToken {
        id: String,
        token: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Publish a rule file: checked (refused with every diagnostic), the change to stored
    /// profiles previewed, then stored as the live version and the profiles recomputed.
    SetRules {
        id: String,
        file: PathBuf,
        /// Why (kept with the version).
        #[arg(long)]
        note: String,
        /// Who (default: $USER).
        #[arg(long)]
        author: Option<String>,
        /// Only check and preview.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The tenant's rule versions, the live one marked.
    Versions {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Make an earlier rule version live again and recompute the stored profiles.
    Rollback {
        id: String,
        version: i64,
        /// Only preview.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// A one-time URL for the customer's IdP admin: the base URL, a token, the steps.
    SetupLink {
        id: String,
        /// How long the link can be opened (once).
        #[arg(long, default_value = "72h")]
        expires: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Recent requests of the tenant (newest last) and its counters.
    Activity {
        id: String,
        /// Failed requests only.
        #[arg(long)]
        errors: bool,
        /// Keep printing requests as they come (Ctrl-C stops).
        #[arg(long)]
        follow: bool,
        /// How many recent requests to print first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print each entry as a JSON line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// The config (if its file exists) and the store, with the config's tenants imported.
struct Opened {
    config: Config,
    config_path: PathBuf,
    store: std::sync::Arc<dyn Store>,
    /// A new admin token, when this command created the config.
    new_admin: Option<String>,
}

fn open(args: &StoreArgs, create: bool) -> Result<Opened, String> {
    let mut new_admin = None;
    let config = if args.config.exists() {
        Config::load(&args.config).map_err(|e| e.to_string())?
    } else if create {
        // A new config gets an admin token (admin API, profiles), shown this once.
        let admin = new_token();
        let config = Config {
            admin_token_sha256: Some(token_hash(&admin)),
            ..Config::default()
        };
        config.save(&args.config).map_err(|e| e.to_string())?;
        new_admin = Some(admin);
        config
    } else if args.database.is_some() {
        Config::default()
    } else {
        return Err(format!(
            "cannot read `{}`: no such file (give --config, or --database)",
            args.config.display()
        ));
    };
    let mut config = config;
    if let Some(database) = &args.database {
        config.use_database(database);
    }
    let store = open_registry_store(&args.config, &config)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "this database has no tenant registry".to_string())?;
    import_config(&args.config, &config, &*store)?;
    Ok(Opened {
        config,
        config_path: args.config.clone(),
        store,
        new_admin,
    })
}

fn id_of(text: &str) -> Result<TenantId, String> {
    TenantId::parse(text).map_err(|e| e.to_string())
}

/// What a command failed with, and its exit code: refused rules are problems (1), anything
/// else a usage error (2).
enum Failure {
    Usage(String),
    Problems(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Usage(message)
    }
}

impl From<ManageError> for Failure {
    fn from(error: ManageError) -> Self {
        match error {
            ManageError::Rules(diagnostics) => Failure::Problems(diagnostics),
            other => Failure::Usage(other.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(error: crate::store::StoreError) -> Self {
        Failure::Usage(error.to_string())
    }
}

pub fn run(command: TenantCommand) -> u8 {
    let result = match command {
        TenantCommand::Add {
            id,
            rules,
            rate_limit,
            store,
        } => add(&id, &rules, rate_limit.as_deref(), &store),
        TenantCommand::List { store } => list(&store),
        TenantCommand::Show { id, store } => show(&id, &store),
        TenantCommand::Set {
            id,
            rate_limit,
            body_capture,
            aliases,
            strict,
            store,
        } => set(&id, rate_limit, body_capture, aliases, strict, &store),
        TenantCommand::Disable { id, store } => enable(&id, false, &store),
        TenantCommand::Enable { id, store } => enable(&id, true, &store),
        TenantCommand::Remove { id, yes, store } => remove(&id, yes, &store),
        TenantCommand::RotateToken { id, grace, store } => rotate(&id, &grace, &store),
        TenantCommand::RevokeToken { id, token, store } => revoke(&id, token, &store),
        TenantCommand::SetRules {
            id,
            file,
            note,
            author,
            dry_run,
            store,
        } => set_rules(&id, &file, &note, author, dry_run, &store),
        TenantCommand::Versions { id, store } => versions(&id, &store),
        TenantCommand::Rollback {
            id,
            version,
            dry_run,
            store,
        } => rollback(&id, version, dry_run, &store),
        TenantCommand::SetupLink { id, expires, store } => setup_link(&id, &expires, &store),
        TenantCommand::Activity {
            id,
            errors,
            follow,
            limit,
            json,
            store,
        } => activity(&id, errors, follow, limit, json, &store),
    };
    match result {
        Ok(text) => {
            print_out(&text);
            EXIT_OK
        }
        Err(Failure::Usage(message)) => fail_usage(message),
        Err(Failure::Problems(diagnostics)) => {
            let _ = write!(std::io::stderr(), "{diagnostics}");
            let _ = writeln!(
                std::io::stderr(),
                "canon: the rules have errors; nothing changed"
            );
            EXIT_PROBLEMS
        }
    }
}

fn base_url(config: &Config, id: &TenantId) -> String {
    warn_base_url(config);
    format!("base_url: {}/t/{id}/scim/v2\n", config.base_url())
}

/// Says on stderr when the printed URLs are not what the customer's IdP can use.
fn warn_base_url(config: &Config) {
    if let Some(warning) = config.base_url_warning() {
        let _ = writeln!(std::io::stderr(), "canon: warning: {warning}");
    }
}

/// Who publishes: `--author`, else the login name.
fn author(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

fn add(
    id: &str,
    rules: &Path,
    rate_limit: Option<&str>,
    args: &StoreArgs,
) -> Result<String, Failure> {
    let id = id_of(id)?;
    if !rules.exists() {
        return Err(format!("cannot read `{}`: no such file", rules.display()).into());
    }
    let rate_limit = rate_limit.map(manage::rate_limit).transpose()?;
    // Checked before anything is created.
    let checked = manage::check_file(rules)?;
    let opened = open(args, true)?;
    let tenant = NewTenant {
        id: id.clone(),
        extensions: serde_json::json!({}),
        rate_limit: rate_limit.unwrap_or_default(),
    };
    let (_, token) = manage::add(&*opened.store, tenant, checked, &author(None))?;
    let mut out = format!("{}token: {token}\n", base_url(&opened.config, &id));
    if let Some(admin) = opened.new_admin {
        out.push_str(&format!("admin_token: {admin}\n"));
    }
    Ok(out)
}

fn list(args: &StoreArgs) -> Result<String, Failure> {
    let opened = open(args, false)?;
    let mut out = format!(
        "{:<24} {:<9} {:>7} {:>10} {:>9} {:>7}  {}\n",
        "TENANT", "STATE", "RULES", "RATE", "REQUESTS", "ERRORS", "LAST REQUEST"
    );
    for record in opened.store.tenants()? {
        let counters = opened.store.activity_counters(&record.id)?;
        out.push_str(&format!(
            "{:<24} {:<9} {:>7} {:>10} {:>9} {:>7}  {}\n",
            record.id.as_str(),
            if record.enabled {
                "enabled"
            } else {
                "disabled"
            },
            record
                .live_version
                .map_or_else(|| "-".to_string(), |v| format!("v{v}")),
            record.rate_limit.to_string(),
            counters.requests,
            counters.client_errors + counters.server_errors,
            counters.last_request.as_deref().unwrap_or("never"),
        ));
    }
    Ok(out)
}

fn tenant_of(
    store: &dyn Store,
    id: &TenantId,
) -> Result<crate::store::registry::TenantRecord, Failure> {
    store
        .tenant(id)?
        .ok_or_else(|| Failure::Usage(format!("no tenant `{id}`")))
}

fn show(id: &str, args: &StoreArgs) -> Result<String, Failure> {
    let id = id_of(id)?;
    let opened = open(args, false)?;
    let store = &*opened.store;
    let record = tenant_of(store, &id)?;
    let now = crate::store::now();
    let mut out = String::new();
    out.push_str(&format!("tenant: {}\n", record.id));
    out.push_str(&base_url(&opened.config, &id));
    out.push_str(&format!(
        "state: {}\n",
        if record.enabled {
            "enabled"
        } else {
            "disabled"
        }
    ));
    out.push_str(&format!("rate_limit: {}\n", record.rate_limit));
    out.push_str(&format!("extensions: {}\n", record.extensions));
    out.push_str(&format!(
        "body_capture: {}\n",
        match &record.body_capture_until {
            Some(until) if until.as_str() > now.as_str() => format!("on until {until}"),
            _ => "off".into(),
        }
    ));
    out.push_str(&format!("created: {}\n", record.created));
    out.push_str("tokens:\n");
    for token in store.tokens(&id)? {
        let state = if let Some(revoked) = &token.revoked {
            format!("revoked {revoked}")
        } else if let Some(expires) = &token.expires {
            if token.live(&now) {
                format!("live until {expires}")
            } else {
                format!("expired {expires}")
            }
        } else {
            "live".into()
        };
        out.push_str(&format!(
            "  {:>4}  created {}  {state}\n",
            token.id, token.created
        ));
    }
    out.push_str("rule versions:\n");
    for version in store.rule_versions(&id)? {
        out.push_str(&version_line(&version, record.live_version));
    }
    let counters = store.activity_counters(&id)?;
    out.push_str(&format!(
        "activity: {} requests, {} client errors, {} server errors, last request {}, last error {}\n",
        counters.requests,
        counters.client_errors,
        counters.server_errors,
        counters.last_request.as_deref().unwrap_or("never"),
        counters.last_error.as_deref().unwrap_or("never"),
    ));
    Ok(out)
}

fn version_line(version: &crate::store::registry::RuleVersion, live: Option<i64>) -> String {
    format!(
        "{} v{:<3} {}  {}  {}  {}\n",
        if live == Some(version.number) {
            "*"
        } else {
            " "
        },
        version.number,
        version.hash,
        version.created,
        version.author,
        version.note
    )
}

fn set(
    id: &str,
    rate_limit: Option<String>,
    body_capture: Option<String>,
    aliases: Vec<String>,
    strict: Option<bool>,
    args: &StoreArgs,
) -> Result<String, Failure> {
    let id = id_of(id)?;
    let opened = open(args, false)?;
    let record = tenant_of(&*opened.store, &id)?;
    let mut change = TenantChange {
        rate_limit: rate_limit.as_deref().map(manage::rate_limit).transpose()?,
        ..TenantChange::default()
    };
    if let Some(text) = body_capture {
        change.body_capture_until = Some(match text.as_str() {
            "off" => None,
            duration => Some(manage::after(manage::parse_duration(duration)?)),
        });
    }
    if !aliases.is_empty() || strict.is_some() {
        let mut policy = record.extensions.clone();
        if !policy.is_object() {
            policy = serde_json::json!({});
        }
        if !aliases.is_empty() {
            let mut map = serde_json::Map::new();
            for alias in &aliases {
                let (urn, target) = alias
                    .split_once('=')
                    .ok_or_else(|| format!("`--alias {alias}`: write URN=TARGET"))?;
                map.insert(urn.trim().into(), target.trim().into());
            }
            policy["aliases"] = map.into();
        }
        if let Some(strict) = strict {
            policy["strict"] = strict.into();
        }
        manage::policy(&policy)?;
        change.extensions = Some(policy);
    }
    if change == TenantChange::default() {
        return Err(
            "nothing to change: give --rate-limit, --body-capture, --alias or --strict"
                .to_string()
                .into(),
        );
    }
    let record = opened.store.update_tenant(&id, &change)?;
    Ok(format!(
        "{}\n",
        serde_json::to_string_pretty(&manage::tenant_json(&record)).unwrap_or_default()
    ))
}

fn enable(id: &str, enabled: bool, args: &StoreArgs) -> Result<String, Failure> {
    let id = id_of(id)?;
    let opened = open(args, false)?;
    tenant_of(&*opened.store, &id)?;
    let change = TenantChange {
        enabled: Some(enabled),
        ..TenantChange::default()
    };
    opened.store.update_tenant(&id, &change)?;
    Ok(if enabled {
        format!("tenant `{id}` is enabled\n")
    } else {
        format!(
            "tenant `{id}` is disabled: its requests get 403 until `canon tenant enable {id}`\n"
        )
    })
}

fn remove(id: &str, yes: bool, args: &StoreArgs) -> Result<String, Failure> {
    let id = id_of(id)?;
    let opened = open(args, false)?;
    tenant_of(&*opened.store, &id)?;
    if !yes {
        let users = opened.store.list(&id, crate::store::Kind::User)?.len();
        let groups = opened.store.list(&id, crate::store::Kind::Group)?.len();
        let stdin = std::io::stdin();
        if !stdin.is_terminal() && std::env::var_os("CANON_CONFIRM_FROM_STDIN").is_none() {
            return Err(format!(
                "removing `{id}` deletes {users} users and {groups} groups for good: \
                 pass --yes, or run it on a terminal and type the id"
            )
            .into());
        }
        let _ = write!(
            std::io::stderr(),
            "Removing `{id}` deletes {users} users, {groups} groups, their profiles, tokens, \
             rule versions and activity, for good.\nType the tenant id to confirm: "
        );
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the confirmation: {e}"))?;
        if line.trim() != id.as_str() {
            return Err(format!("`{}` is not `{id}`: nothing removed", line.trim()).into());
        }
    }
    opened.store.remove_tenant(&id)?;
    let mut out = format!("tenant `{id}` removed with all its data\n");
    if opened.config.tenant(id.as_str()).is_some() {
        out.push_str(&format!(
            "note: `{id}` is still listed in `{}`; remove it there, or the next start imports it again\n",
            opened.config_path.display()
        ));
    }
    Ok(out)
}

fn rotate(id: &str, grace: &str, args: &StoreArgs) -> Result<String, Failure> {
    let id = id_of(id)?;
    let grace = manage::parse_duration(grace)?;
    let opened = open(args, false)?;
    let (record, token) = manage::rotate(&*opened.store, &id, grace)?;
    let mut out = format!("{}token: {token}\n", base_url(&opened.config, &id));
    out.push_str(&format!("token_id: {}\n", record.id));
    if grace.is_zero() {
        out.push_str("the previous tokens stopped working now\n");
    } else {
        out.push_str(&format!(
            "the previous tokens keep working until {}\n",
            manage::after(grace)
        ));
    }
    Ok(out)
}

fn revoke(id: &str, token: i64, args: &StoreArgs) -> Result<String, Failure> {
    let id = id_of(id)?;
    let opened = open(args, false)?;
    tenant_of(&*opened.store, &id)?;
    match opened.store.revoke_token(&id, token) {
        Ok(record) => Ok(format!(
            "token {} of `{id}` revoked at {}\n",
            record.id,
            record.revoked.unwrap_or_default()
        )),
        Err(crate::store::StoreError::NotFound) => {
            Err(format!("tenant `{id}` has no token {token}").into())
        }
        Err(error) => Err(error.into()),
    }
}

/// How many change lines a preview prints at most (the counts are always whole).
const PREVIEW_LINES: usize = 50;

fn preview_text(remap: &manage::Remap) -> String {
    let mut out = String::new();
    for line in remap.lines.iter().take(PREVIEW_LINES) {
        out.push_str(line);
        out.push('\n');
    }
    if remap.lines.len() > PREVIEW_LINES {
        out.push_str(&format!(
            "… and {} more changes\n",
            remap.lines.len() - PREVIEW_LINES
        ));
    }
    out.push_str(&format!(
        "{} of {} users change\n",
        remap.changed_users, remap.users
    ));
    out
}

fn set_rules(
    id: &str,
    file: &Path,
    note: &str,
    author_name: Option<String>,
    dry_run: bool,
    args: &StoreArgs,
) -> Result<String, Failure> {
    let id = id_of(id)?;
    let opened = open(args, false)?;
    tenant_of(&*opened.store, &id)?;
    let checked = manage::check_file(file)?;
    let hash = checked.program.version().to_string();
    let published = manage::set_rules(
        &*opened.store,
        &id,
        checked,
        note,
        &author(author_name),
        !dry_run,
    )?;
    let mut out = preview_text(&published.remap);
    match published.version {
        Some(version) => out.push_str(&format!(
            "published v{} ({hash}) for `{id}`: live now; {} stored profiles recomputed\n",
            version.number,
            published.remap.updates.len()
        )),
        None => out.push_str(&format!("dry run: rules {hash} not published\n")),
    }
    Ok(out)
}

fn versions(id: &str, args: &StoreArgs) -> Result<String, Failure> {
    let id = id_of(id)?;
    let opened = open(args, false)?;
    let record = tenant_of(&*opened.store, &id)?;
    let mut out = String::new();
    for version in opened.store.rule_versions(&id)? {
        out.push_str(&version_line(&version, record.live_version));
    }
    Ok(out)
}

fn rollback(id: &str, number: i64, dry_run: bool, args: &StoreArgs) -> Result<String, Failure> {
    let id = id_of(id)?;
    let opened = open(args, false)?;
    let published = manage::rollback(&*opened.store, &id, number, !dry_run)?;
    let mut out = preview_text(&published.remap);
    if dry_run {
        out.push_str(&format!("dry run: v{number} not made live\n"));
    } else {
        out.push_str(&format!(
            "v{number} is live again for `{id}`; {} stored profiles recomputed\n",
            published.remap.updates.len()
        ));
    }
    Ok(out)
}

fn setup_link(id: &str, expires: &str, args: &StoreArgs) -> Result<String, Failure> {
    let id = id_of(id)?;
    let expires = manage::parse_duration(expires)?;
    let opened = open(args, false)?;
    let (secret, until) = manage::new_setup_link(&*opened.store, &id, expires)?;
    warn_base_url(&opened.config);
    Ok(format!(
        "url: {}/setup/{secret}\nexpires: {until}\nThe link opens once: the page shows a new token for `{id}`, then the link is spent.\n",
        opened.config.base_url()
    ))
}

fn activity_line(entry: &ActivityEntry) -> String {
    let mut line = format!(
        "{}  {:<6} {:<40} {}  {:>7.1} ms",
        entry.at,
        entry.method,
        entry.path,
        entry.status,
        entry.latency_us as f64 / 1000.0
    );
    if let Some(id) = &entry.resource_id {
        line.push_str(&format!("  id={id}"));
    }
    if let Some(request) = &entry.request_id {
        line.push_str(&format!("  request={request}"));
    }
    if let Some(error) = &entry.error {
        line.push_str(&format!("\n    error: {}", error.replace('\n', "\n    ")));
    }
    if let Some(body) = &entry.body {
        line.push_str(&format!("\n    body: {body}"));
    }
    line.push('\n');
    line
}

fn activity(
    id: &str,
    errors: bool,
    follow: bool,
    limit: usize,
    json: bool,
    args: &StoreArgs,
) -> Result<String, Failure> {
    let id = id_of(id)?;
    let opened = open(args, false)?;
    let store = &*opened.store;
    tenant_of(store, &id)?;
    let show = |entries: &[ActivityEntry]| -> String {
        entries
            .iter()
            .map(|e| {
                if json {
                    format!("{}\n", serde_json::to_string(e).unwrap_or_default())
                } else {
                    activity_line(e)
                }
            })
            .collect()
    };
    let mut query = ActivityQuery {
        errors_only: errors,
        after: None,
        limit,
    };
    let entries = store.activity(&id, &query)?;
    let mut out = show(&entries);
    if !follow {
        if !json {
            let c = store.activity_counters(&id)?;
            out.push_str(&format!(
                "{} requests, {} client errors, {} server errors; last request {}, last error {}\n",
                c.requests,
                c.client_errors,
                c.server_errors,
                c.last_request.as_deref().unwrap_or("never"),
                c.last_error.as_deref().unwrap_or("never")
            ));
        }
        return Ok(out);
    }
    // Follow: print what came after the last entry shown, until Ctrl-C (or a closed pipe).
    print_out(&out);
    let mut last = entries.last().map(|e| e.seq);
    if last.is_none() {
        // Nothing yet: start after whatever the newest entry is (even one filtered out).
        last = store
            .activity(
                &id,
                &ActivityQuery {
                    errors_only: false,
                    after: None,
                    limit: 1,
                },
            )?
            .last()
            .map(|e| e.seq);
    }
    query.limit = crate::store::registry::ACTIVITY_KEPT;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        query.after = last.or(Some(0));
        let entries = store.activity(&id, &query)?;
        if let Some(entry) = entries.last() {
            last = Some(entry.seq);
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(show(&entries).as_bytes()).is_err() || stdout.flush().is_err() {
                return Ok(String::new());
            }
        }
    }
}
