//! The seam between the SCIM service and the rules engine.
//!
//! Handlers only see [`ProfileMapper`]: a version and a pure `map` from a SCIM user to its
//! canonical profile. [`crate::Program`] implements it; tests use small fakes.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

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
