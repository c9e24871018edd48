//! The seam between the SCIM service and the rules engine.
//!
//! Handlers only see [`ProfileMapper`]: a version and a pure `map` from a SCIM user to its
//! canonical profile. [`crate::Program`] implements it; tests use small fakes.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::store::registry::RuleBundle;
use crate::store::ProfileRecord;

/// What a write computes for a user. Also what the store keeps.
pub type MappedProfile = ProfileRecord;

pub trait ProfileMapper: Send + Sync {
    /// Content hash of the rule files (stored beside every profile).
    fn version(&self) -> String;
    /// The canonical profile of one SCIM user (as stored: without `id` and `meta`).
    fn map(&self, user: &Value) -> MappedProfile;
}

impl ProfileMapper for crate::Program {
    fn version(&self) -> String {
        crate::Program::version(self).to_string()
    }

    fn map(&self, user: &Value) -> MappedProfile {
        let profile = self.apply(&crate::JsonRecord::new(user));
        MappedProfile {
            fields: profile.to_json(),
            rules: profile.rules_json(),
            rule_version: crate::Program::version(self).to_string(),
            missing: profile
                .missing_required()
                .into_iter()
                .map(String::from)
                .collect(),
        }
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
