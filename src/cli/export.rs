//! `canon export`, `canon remap`, `canon reload`: the stored canonical profiles offline.

use std::path::PathBuf;

use crate::scim::admin::profile_json;
use crate::scim::config::Config;
use crate::scim::extensions;
use crate::scim::mapper::{self, ProfileMapper};
use crate::store::{Kind, ProfileRecord, ResourceStore, StoredResource, TenantId};

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

fn open(
    config_path: &std::path::Path,
    tenant: &str,
    database: Option<&str>,
) -> Result<(Config, TenantId, std::sync::Arc<dyn ResourceStore>), String> {
    let mut config = Config::load(config_path).map_err(|e| e.to_string())?;
    if let Some(database) = database {
        config.use_database(database);
    }
    let id = TenantId::parse(tenant).map_err(|e| e.to_string())?;
    if config.tenant(id.as_str()).is_none() {
        return Err(format!("no tenant `{id}` in `{}`", config_path.display()));
    }
    let store = crate::scim::serve::open_store(config_path, &config).map_err(|e| e.to_string())?;
    Ok((config, id, store))
}

pub fn export(args: ExportArgs) -> u8 {
    let (_, tenant, store) = match open(&args.config, &args.tenant, args.database.as_deref()) {
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
    let show = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => "(unset)".to_string(),
        Some(v) => v.to_string(),
    };
    fields
        .iter()
        .filter(|(k, v)| old.get(*k).unwrap_or(&serde_json::Value::Null) != *v)
        .map(|(k, v)| format!("{name}\t{k}\t{} -> {}", show(old.get(k)), show(Some(v))))
        .collect()
}

pub fn remap(args: RemapArgs) -> u8 {
    let (config, tenant, store) = match open(&args.config, &args.tenant, args.database.as_deref()) {
        Ok(opened) => opened,
        Err(message) => return fail_usage(message),
    };
    let entry = config.tenant(tenant.as_str());
    let rules = entry
        .map(|t| Config::resolve(&args.config, &t.rules))
        .unwrap_or_default();
    let mapper = match mapper::load(&rules) {
        Ok(mapper) => mapper,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            return EXIT_PROBLEMS;
        }
    };
    // The service reads users through the tenant's aliases; so does a remap. `Config::load`
    // checked them.
    let aliases = entry
        .and_then(|t| t.extensions.resolve().ok())
        .unwrap_or_default();
    let mapper = extensions::aliased(mapper, std::sync::Arc::new(aliases));
    remap_with(store.as_ref(), &tenant, mapper.as_ref(), args.apply)
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
    let mut out = String::new();
    let mut updates = Vec::new();
    for user in &users {
        let new = mapper.map(&user.body);
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
