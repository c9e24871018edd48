//! The seam between the SCIM service and the rules engine.
//!
//! Handlers only see [`ProfileMapper`]: a version and a pure `map` from a SCIM user to its
//! canonical profile. [`crate::Program`] implements it; tests use small fakes.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::eval::{OrgEntry, Population};
use crate::store::registry::RuleBundle;
use crate::store::ProfileRecord;

/// What a write computes for a user. Also what the store keeps.
pub type MappedProfile = ProfileRecord;

pub trait ProfileMapper: Send + Sync {
    /// Content hash of the rule files (stored beside every profile).
    fn version(&self) -> String;
    /// The canonical profile of one SCIM user (as stored: without `id` and `meta`).
    fn map(&self, user: &Value) -> MappedProfile;
    /// Whether the rules declare `reports_to`: profiles then depend on other users.
    fn has_org_graph(&self) -> bool {
        false
    }
    /// Names what the user's place in the organisation graph is computed from (the store's
    /// index of the graph is rebuilt when it changes): the rules, and what they read.
    fn org_signature(&self) -> String {
        self.version()
    }
    /// The user's place in the organisation graph (the user with its `id`).
    fn org_entry(&self, user: &Value) -> OrgEntry {
        let _ = user;
        OrgEntry::default()
    }
    /// The profile of a user of `population` (what `reports` tests count).
    fn map_in(&self, user: &Value, population: &dyn Population) -> MappedProfile {
        let _ = population;
        self.map(user)
    }
    /// Whether [`ProfileMapper::map_in`] maps any user alike among `a` and among `b` reports
    /// (see [`crate::Program::reports_alike`]).
    fn reports_alike(&self, a: u64, b: u64) -> bool {
        a == b
    }
}

impl ProfileMapper for crate::Program {
    fn version(&self) -> String {
        crate::Program::version(self).to_string()
    }

    fn map(&self, user: &Value) -> MappedProfile {
        mapped(self, self.apply(&crate::JsonRecord::new(user)))
    }

    fn has_org_graph(&self) -> bool {
        crate::Program::has_org_graph(self)
    }

    fn org_entry(&self, user: &Value) -> OrgEntry {
        crate::Program::org_entry(self, &crate::JsonRecord::new(user), true, None)
    }

    fn map_in(&self, user: &Value, population: &dyn Population) -> MappedProfile {
        mapped(
            self,
            self.apply_in(&crate::JsonRecord::new(user), population, None),
        )
    }

    fn reports_alike(&self, a: u64, b: u64) -> bool {
        crate::Program::reports_alike(self, a, b)
    }
}

/// What the store keeps of a profile.
fn mapped(program: &crate::Program, profile: crate::eval::profile::Profile) -> MappedProfile {
    MappedProfile {
        fields: profile.to_json(),
        rules: profile.rules_json(),
        rule_version: crate::Program::version(program).to_string(),
        missing: profile
            .missing_required()
            .into_iter()
            .map(String::from)
            .collect(),
    }
}

/// Compiles a tenant's rule file; the error is the rendered diagnostics (multi-line).
pub fn load(path: &Path) -> Result<Arc<dyn ProfileMapper>, String> {
    match crate::Program::load(path) {
        Ok(program) => Ok(Arc::new(program)),
        Err(error) => Err(error.to_string()),
    }
}

/// A rule file loaded for publishing: its program, and the bundle (the file's text and every
/// file its load read) that rebuilds it anywhere. The error is the rendered diagnostics.
pub fn load_for_publishing(path: &Path) -> Result<(Arc<crate::Program>, RuleBundle), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}\n", path.display()))?;
    let (program, files) = crate::Program::load_with_files(path).map_err(|e| e.render())?;
    let name = path
        .file_name()
        .map_or_else(|| "rules".to_string(), |n| n.to_string_lossy().into_owned());
    Ok((Arc::new(program), RuleBundle { name, text, files }))
}

/// Compiles a stored rule bundle, reading no file.
pub fn compile_bundle(bundle: &RuleBundle) -> Result<Arc<crate::Program>, String> {
    crate::Program::from_memory(&bundle.name, &bundle.text, &bundle.files)
        .map(Arc::new)
        .map_err(|e| e.render())
}
