//! A customer as the console sees it: the tenant serving, the text of its rules, and the
//! compiled [`Program`] of those rules (the console needs the program itself, for explain and
//! coverage, not only the service's mapper).
//!
//! Programs are compiled once per rule version and kept ([`Programs`]); a draft is compiled
//! in the place of the customer's rule file, so its `extends` and tables resolve as the
//! published file's do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::page::ConsoleError;
use crate::check::LoadError;
use crate::scim::{AppState, Tenant};
use crate::store::TenantId;
use crate::Program;

/// The text of a customer's rules and what it reads, so a draft compiles in its place.
#[derive(Debug, Clone)]
pub(crate) struct RulesSource {
    /// How diagnostics cite the rule file.
    pub name: String,
    pub text: String,
    pub origin: Origin,
}

/// Where the rules a customer serves come from.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// A rule file of `canon.yaml` (its `extends` and tables resolve next to it).
    File(std::path::PathBuf),
    /// A version in the tenant registry: the files its load read, held with it.
    Version { files: Vec<(String, Vec<u8>)> },
}

impl RulesSource {
    /// Compiles `text` as if it were the customer's rule file.
    pub fn compile(&self, text: &str) -> Result<Program, LoadError> {
        match &self.origin {
            Origin::File(path) => Program::from_source(&path.display().to_string(), text),
            Origin::Version { files, .. } => Program::from_memory(&self.name, text, files),
        }
    }

    /// How the compiler names the draft in diagnostics.
    fn compiled_name(&self) -> String {
        match &self.origin {
            Origin::File(path) => path.display().to_string(),
            Origin::Version { .. } => self.name.clone(),
        }
    }
}

/// One diagnostic as the editor shows it: in the draft (line and column) or in a file it
/// extends.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Problem {
    pub severity: String,
    pub code: String,
    /// Where it is when not in the draft itself (a base file, a table CSV).
    pub file: Option<String>,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
    pub help: Option<String>,
    /// The diagnostic as `canon check` prints it.
    pub rendered: String,
}

/// The diagnostics of a load (errors, then warnings, each in file order), those of the draft
/// cited by line and column only.
pub(crate) fn problems(
    diagnostics: &[crate::diag::Diagnostic],
    sources: &crate::diag::Sources,
    draft: &RulesSource,
) -> Vec<Problem> {
    let draft_name = draft.compiled_name();
    diagnostics
        .iter()
        .map(|d| {
            let json = d.to_json(sources);
            let file = json["file"].as_str().map(str::to_string);
            let in_draft = file.as_deref() == Some(draft_name.as_str());
            // `canon check` names the file as the user knows it.
            let rendered = d.render(sources).replace(&draft_name, &draft.name);
            Problem {
                severity: json["severity"].as_str().unwrap_or("error").to_string(),
                code: json["code"].as_str().unwrap_or_default().to_string(),
                file: if in_draft { None } else { file },
                line: json["line"].as_u64(),
                column: json["column"].as_u64(),
                message: d.message.clone(),
                help: d.help.clone(),
                rendered,
            }
        })
        .collect()
}

/// A customer now: the tenant, its rules and their program.
#[derive(Clone)]
pub(crate) struct Customer {
    pub tenant: Arc<Tenant>,
    pub source: RulesSource,
    pub program: Arc<Program>,
}

/// Compiled programs by tenant, each for the rule version it was compiled from.
#[derive(Default)]
pub(crate) struct Programs(Mutex<HashMap<TenantId, Arc<Program>>>);

impl Programs {
    fn get(&self, id: &TenantId, version: &str) -> Option<Arc<Program>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).filter(|p| p.version() == version).cloned()
    }

    fn put(&self, id: &TenantId, program: Arc<Program>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), program);
    }
}

/// Every tenant serving, by id.
pub(crate) fn tenants(app: &AppState) -> Vec<Arc<Tenant>> {
    app.tenants.all()
}

fn tenant(app: &AppState, id: &str) -> Result<Arc<Tenant>, ConsoleError> {
    TenantId::parse(id)
        .ok()
        .and_then(|id| app.tenants.get(&id))
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no customer `{id}`.")))
}

/// The customer `id` with the program of the rules serving now. Blocking (reads and may
/// compile the rule file).
pub(crate) fn customer(
    app: &AppState,
    programs: &Programs,
    id: &str,
) -> Result<Customer, ConsoleError> {
    let tenant = tenant(app, id)?;
    let source = match (&app.registry, tenant.rule_version_number()) {
        (Some(registry), Some(number)) => {
            let version = registry
                .store
                .rule_version(&tenant.id, number)?
                .ok_or_else(|| {
                    ConsoleError::Internal(format!(
                        "tenant `{}` serves rule version {number}, which the registry lacks",
                        tenant.id
                    ))
                })?;
            RulesSource {
                name: version.bundle.name,
                text: version.bundle.text,
                origin: Origin::Version {
                    files: version.bundle.files,
                },
            }
        }
        _ => {
            let path = tenant.rules();
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConsoleError::Internal(format!("cannot read `{}`: {e}", path.display()))
            })?;
            RulesSource {
                name: path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ),
                text,
                origin: Origin::File(path),
            }
        }
    };
    let serving = tenant.mapper().version();
    let program = match programs.get(&tenant.id, &serving) {
        Some(program) => program,
        None => {
            let program = source.compile(&source.text).map_err(|e| {
                ConsoleError::Internal(format!(
                    "the rule file of `{}` no longer compiles:\n{}",
                    tenant.id,
                    e.render()
                ))
            })?;
            if program.version() != serving {
                // The file changed on disk since the service loaded it: what the console would
                // show is not what serves.
                return Err(ConsoleError::Conflict(format!(
                    "The rule file of `{}` changed on disk since it was loaded (serving {}, on disk {}). Reload the tenant (POST /admin/tenants/{}/reload) so the console and the service agree.",
                    tenant.id,
                    super::page::short_version(&serving),
                    super::page::short_version(program.version()),
                    tenant.id
                )));
            }
            let program = Arc::new(program);
            programs.put(&tenant.id, program.clone());
            program
        }
    };
    Ok(Customer {
        tenant,
        source,
        program,
    })
}
