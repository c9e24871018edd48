//! `canon export`, `canon remap`, `canon reload`: the stored canonical profiles offline.

use std::path::PathBuf;

use crate::scim::admin::profile_json;
use crate::scim::config::Config;
use crate::scim::manage::profile_changes;
use crate::scim::mapper::{self, ProfileMapper};
use crate::scim::serve::{open_registry_store, open_store};
use crate::store::{Kind, ResourceStore, Store, StoredResource, TenantId};

use super::{fail_usage, print_out, EXIT_OK, EXIT_PROBLEMS};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    #[arg(long)]
    tenant: String,
    #[arg(long, default_value = "canon.yaml")]
    config: PathBuf,
    /// The store; overrides the config's `database` (a SQLite file or a `postgres://` URL).
    #[arg(long)]
    database: Option<String>,
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
}

#[derive(clap::Args)]
pub struct RemapArgs {
    #[arg(long)]
    tenant: String,
    #[arg(long, default_value = "canon.yaml")]
    config: PathBuf,
    /// The store; overrides the config's `database` (a SQLite file or a `postgres://` URL).
    #[arg(long)]
    database: Option<String>,
    /// Write the new profiles (without it, only print the changes).
    #[arg(long)]
    apply: bool,
}

#[derive(clap::Args)]
pub struct ReloadArgs {
    #[arg(long)]
    tenant: String,
    #[arg(long, default_value = "canon.yaml")]
    config: PathBuf,
    /// The running service's address (default: the config's `listen`).
    #[arg(long)]
    url: Option<String>,
    /// Admin token; prefer the `CANON_ADMIN_TOKEN` environment variable (command lines are
    /// visible to other users of the machine).
    #[arg(long)]
    admin_token: Option<String>,
}

/// What the offline commands work on: the config, the tenant, its resources, and the
/// registry (`None` for a store that has none yet: then the config's tenants).
type Opened = (
    Config,
    TenantId,
    std::sync::Arc<dyn ResourceStore>,
    Option<std::sync::Arc<dyn Store>>,
);

fn open(
    config_path: &std::path::Path,
    tenant: &str,
    database: Option<&str>,
) -> Result<Opened, String> {
    let mut config = Config::load(config_path).map_err(|e| e.to_string())?;
    if let Some(database) = database {
        config.use_database(database);
    }
    let id = TenantId::parse(tenant).map_err(|e| e.to_string())?;
    match open_registry_store(config_path, &config).map_err(|e| e.to_string())? {
        Some(store) => {
            crate::scim::tenants::import_config(config_path, &config, &*store)?;
            if store.tenant(&id).map_err(|e| e.to_string())?.is_none() {
                return Err(format!("no tenant `{id}` (see `canon tenant list`)"));
            }
            let resources: std::sync::Arc<dyn ResourceStore> = store.clone();
            Ok((config, id, resources, Some(store)))
        }
        None => {
            if config.tenant(id.as_str()).is_none() {
                return Err(format!("no tenant `{id}` in `{}`", config_path.display()));
            }
            let store = open_store(config_path, &config).map_err(|e| e.to_string())?;
            Ok((config, id, store, None))
        }
    }
}

pub fn export(args: ExportArgs) -> u8 {
    let (_, tenant, store, _) = match open(&args.config, &args.tenant, args.database.as_deref()) {
        Ok(opened) => opened,
        Err(message) => return fail_usage(message),
    };
    let users = match store.list(&tenant, Kind::User) {
        Ok(users) => users,
        Err(error) => return fail_usage(error),
    };
    match args.format {
        Format::Jsonl => {
            let mut out = String::new();
            for user in &users {
                out.push_str(&profile_json(user).to_string());
                out.push('\n');
            }
            print_out(&out);
        }
        Format::Csv => match export_csv(&users) {
            Ok(text) => print_out(&text),
            Err(error) => return fail_usage(error),
        },
    }
    EXIT_OK
}

/// One row per user: id, userName, rule_version, complete, then every canonical field.
fn export_csv(users: &[StoredResource]) -> Result<String, csv::Error> {
    let mut fields: Vec<String> = Vec::new();
    for user in users {
        if let Some(serde_json::Value::Object(map)) = user.profile.as_ref().map(|p| &p.fields) {
            for key in map.keys() {
                if !fields.contains(key) {
                    fields.push(key.clone());
                }
            }
        }
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "id".to_string(),
        "userName".into(),
        "rule_version".into(),
        "complete".into(),
    ];
    header.extend(fields.iter().cloned());
    writer.write_record(&header)?;
    for user in users {
        let profile = user.profile.as_ref();
        let mut row = vec![
            user.id.clone(),
            user.body
                .get("userName")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            profile.map(|p| p.rule_version.clone()).unwrap_or_default(),
            profile
                .map(|p| p.complete().to_string())
                .unwrap_or_default(),
        ];
        for field in &fields {
            let value = profile
                .and_then(|p| p.fields.get(field))
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            row.push(value.to_string());
        }
        writer.write_record(&row)?;
    }
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub fn remap(args: RemapArgs) -> u8 {
    let (config, tenant, store, registry) =
        match open(&args.config, &args.tenant, args.database.as_deref()) {
            Ok(opened) => opened,
            Err(message) => return fail_usage(message),
        };
    let mapper = match registry {
        Some(registry) => live_mapper(&*registry, &tenant),
        None => config_mapper(&args.config, &config, &tenant),
    };
    match mapper {
        Ok(mapper) => remap_with(store.as_ref(), &tenant, mapper.as_ref(), args.apply),
        Err(code) => code,
    }
}

/// The tenant's live rule version, read through its aliases, as the service runs it.
fn live_mapper(
    store: &dyn Store,
    tenant: &TenantId,
) -> Result<std::sync::Arc<dyn ProfileMapper>, u8> {
    let found = (|| -> Result<_, String> {
        let record = store
            .tenant(tenant)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no tenant `{tenant}`"))?;
        let number = record
            .live_version
            .ok_or_else(|| format!("tenant `{tenant}` has no rule version"))?;
        let version = store
            .rule_version(tenant, number)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("rule version {number} of `{tenant}` is missing"))?;
        Ok((record, version))
    })();
    let (record, version) = found.map_err(fail_usage)?;
    let program = mapper::compile_bundle(&version.bundle).map_err(|diagnostics| {
        eprint!("{diagnostics}");
        EXIT_PROBLEMS
    })?;
    crate::scim::manage::served(&record, program).map_err(fail_usage)
}

/// A config tenant's rule file, read through its aliases (a store without a registry).
fn config_mapper(
    config_path: &std::path::Path,
    config: &Config,
    tenant: &TenantId,
) -> Result<std::sync::Arc<dyn ProfileMapper>, u8> {
    let entry = config.tenant(tenant.as_str());
    let rules = entry
        .map(|t| Config::resolve(config_path, &t.rules))
        .unwrap_or_default();
    let mapper = mapper::load(&rules).map_err(|diagnostics| {
        eprint!("{diagnostics}");
        EXIT_PROBLEMS
    })?;
    // `Config::load` checked the aliases.
    let aliases = entry
        .and_then(|t| t.extensions.resolve().ok())
        .unwrap_or_default();
    Ok(crate::scim::extensions::aliased(
        mapper,
        std::sync::Arc::new(aliases),
    ))
}

/// Re-applies `mapper` to every stored user; prints the changes, writes them with `apply`.
pub fn remap_with(
    store: &dyn ResourceStore,
    tenant: &TenantId,
    mapper: &dyn ProfileMapper,
    apply: bool,
) -> u8 {
    let users = match store.list(tenant, Kind::User) {
        Ok(users) => users,
        Err(error) => return fail_usage(error),
    };
    // Where the rules declare `reports_to`, every user is mapped in the tenant's population
    // (as each write of the service maps the users it changes).
    let profiles = crate::scim::org::map_all(&users, mapper);
    let mut out = String::new();
    let mut updates = Vec::new();
    for (user, new) in users.iter().zip(profiles) {
        let changes = profile_changes(user, &new);
        let version_changed =
            user.profile.as_ref().map(|p| &p.rule_version) != Some(&new.rule_version);
        for line in &changes {
            out.push_str(line);
            out.push('\n');
        }
        if !changes.is_empty() || version_changed {
            updates.push((user.id.clone(), new));
        }
    }
    let changed = updates.len();
    out.push_str(&format!(
        "{changed} of {} users change under rules {}{}\n",
        users.len(),
        mapper.version(),
        if apply {
            ""
        } else {
            " (dry run: add --apply to write)"
        }
    ));
    print_out(&out);
    if apply && !updates.is_empty() {
        if let Err(error) = store.set_profiles(tenant, &updates) {
            return fail_usage(error);
        }
    }
    EXIT_OK
}

/// Asks the running service to recompile a tenant's rules.
pub fn reload(args: ReloadArgs) -> u8 {
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(error) => return fail_usage(error),
    };
    let Some(token) = args
        .admin_token
        .or_else(|| std::env::var("CANON_ADMIN_TOKEN").ok())
    else {
        return fail_usage("no admin token: set CANON_ADMIN_TOKEN or pass --admin-token");
    };
    let address = args.url.unwrap_or(config.listen);
    let address = address
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let request = format!(
        "POST /admin/tenants/{}/reload HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        args.tenant, token
    );
    use std::io::{Read, Write};
    let response = std::net::TcpStream::connect(&address).and_then(|mut stream| {
        stream.write_all(request.as_bytes())?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok(text)
    });
    match response {
        Ok(text) => {
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            let ok = head.starts_with("HTTP/1.1 200");
            let detail = serde_json::from_str::<serde_json::Value>(body.trim())
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_string))
                .unwrap_or_else(|| body.trim().to_string());
            if ok {
                print_out(&format!("{detail}\n"));
                EXIT_OK
            } else {
                eprintln!("canon: reload refused: {detail}");
                EXIT_PROBLEMS
            }
        }
        Err(error) => fail_usage(format!("cannot reach `{address}`: {error}")),
    }
}
