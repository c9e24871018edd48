//! `canon tenant add ID --rules FILE` and `canon tenant rotate-token ID`: the two things a
//! customer pastes into Okta, printed once; only the token's SHA-256 is stored.

use std::path::PathBuf;

use crate::scim::config::{new_token, token_hash, Config, ConfigError, TenantConfig};
use crate::store::TenantId;

use super::{fail_usage, print_out, EXIT_OK};

#[derive(clap::Subcommand)]
pub enum TenantCommand {
    /// Add a tenant (creating the config if needed) and print its base URL and token.
    Add(AddArgs),
    /// Replace a tenant's token and print the new one (`canon reload` or a restart makes
    /// `canon serve` use it).
    RotateToken(RotateArgs),
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// Tenant id: lowercase letters, digits and `-`.
    id: String,
    /// The tenant's rule file (stored relative to the config's folder when inside it).
    #[arg(long)]
    rules: PathBuf,
    #[arg(long, default_value = "canon.yaml")]
    config: PathBuf,
}

#[derive(clap::Args)]
pub struct RotateArgs {
    id: String,
    #[arg(long, default_value = "canon.yaml")]
    config: PathBuf,
}

pub fn run(command: TenantCommand) -> u8 {
    let result = match command {
        TenantCommand::Add(args) => add(args),
        TenantCommand::RotateToken(args) => rotate(args),
    };
    match result {
        Ok(text) => {
            print_out(&text);
            EXIT_OK
        }
        Err(message) => fail_usage(message),
    }
}

fn base_url(config: &Config, id: &TenantId) -> String {
    format!("base_url: http://{}/t/{id}/scim/v2\n", config.listen)
}

fn add(args: AddArgs) -> Result<String, String> {
    let id = TenantId::parse(&args.id).map_err(|e| e.to_string())?;
    let mut out = String::new();
    let mut config = if args.config.exists() {
        Config::load(&args.config).map_err(|e| e.to_string())?
    } else {
        // A new config gets an admin token too (profiles, reload), shown this once.
        let admin = new_token();
        let config = Config {
            admin_token_sha256: Some(token_hash(&admin)),
            ..Config::default()
        };
        out.push_str(&format!("admin_token: {admin}\n"));
        config
    };
    if config.tenant(id.as_str()).is_some() {
        return Err(ConfigError::TenantExists(id.to_string()).to_string());
    }
    if !args.rules.exists() {
        return Err(format!(
            "cannot read `{}`: no such file",
            args.rules.display()
        ));
    }
    let rules = relative_to_config(&args.config, &args.rules);
    let token = new_token();
    config.tenants.push(TenantConfig {
        id: id.clone(),
        rules,
        token_sha256: token_hash(&token),
        extensions: Default::default(),
        rate_limit: Default::default(),
    });
    config.save(&args.config).map_err(|e| e.to_string())?;
    out.insert_str(0, &format!("{}token: {token}\n", base_url(&config, &id)));
    Ok(out)
}

fn rotate(args: RotateArgs) -> Result<String, String> {
    let mut config = Config::load(&args.config).map_err(|e| e.to_string())?;
    let token = new_token();
    let tenant = config
        .tenants
        .iter_mut()
        .find(|t| t.id.as_str() == args.id)
        .ok_or_else(|| ConfigError::UnknownTenant(args.id.clone()).to_string())?;
    tenant.token_sha256 = token_hash(&token);
    let id = tenant.id.clone();
    config.save(&args.config).map_err(|e| e.to_string())?;
    Ok(format!("{}token: {token}\n", base_url(&config, &id)))
}

/// The rule file path as the config stores it: relative to the config's folder when possible.
fn relative_to_config(config: &std::path::Path, rules: &std::path::Path) -> PathBuf {
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let rules_abs = absolute(rules);
    let folder = absolute(config)
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    rules_abs
        .strip_prefix(&folder)
        .map(|p| p.to_path_buf())
        .unwrap_or(rules_abs)
}
