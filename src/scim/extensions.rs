//! A tenant's extension namespaces (issue 16). Every extension object is stored as sent; a
//! tenant's `extensions:` in `canon.yaml` can alias a customer's own namespace onto one the
//! rules read (so the default pack's `canon:managementLevel` reads the customer's
//! `urn:…:globex:2.0:User` `managementLevel` without editing a rule), and refuse namespaces
//! nobody defined (`strict`).
//!
//! Aliases change only what the rules see, never what is stored or returned: the mapper gets a
//! view of the user with the aliased objects merged into their target.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::mapper::{MappedProfile, ProfileMapper};
use super::schema::{self, ci_key};
use crate::store::Kind;

/// `extensions:` of a tenant in `canon.yaml`, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtensionsConfig {
    /// A customer's namespace URN → `canon`, `enterprise` or another namespace URN.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, String>,
    /// Refuse (400) extension objects of namespaces neither Canon nor an alias defines.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
}

impl ExtensionsConfig {
    pub fn is_default(&self) -> bool {
        *self == ExtensionsConfig::default()
    }

    /// Checks the aliases and resolves their targets to URNs; the message names the entry.
    pub fn resolve(&self) -> Result<Extensions, String> {
        let mut aliases = Vec::new();
        for (source, target) in &self.aliases {
            if !is_urn(source) {
                return Err(format!(
                    "`extensions.aliases`: `{source}` is not a namespace URN (`urn:…`)"
                ));
            }
            if [Kind::User, Kind::Group]
                .iter()
                .any(|&kind| schema::is_core_urn(kind, source))
            {
                return Err(format!(
                    "`extensions.aliases`: `{source}` is a core schema, not an extension"
                ));
            }
            let urn = match target.trim() {
                t if t.eq_ignore_ascii_case("canon") => schema::CANON.to_string(),
                t if t.eq_ignore_ascii_case("enterprise") => schema::ENTERPRISE.to_string(),
                t if is_urn(t) => t.to_string(),
                t => {
                    return Err(format!(
                        "`extensions.aliases`: `{source}` maps to `{t}`; use `canon`, \
                         `enterprise` or a namespace URN"
                    ))
                }
            };
            if urn.eq_ignore_ascii_case(source) {
                return Err(format!("`extensions.aliases`: `{source}` maps to itself"));
            }
            aliases.push(Alias {
                source: source.clone(),
                target: urn,
            });
        }
        Ok(Extensions {
            aliases,
            strict: self.strict,
        })
    }
}

fn is_urn(text: &str) -> bool {
    text.get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// One alias: the rules read the user's `source` object as if sent under `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub source: String,
    pub target: String,
}

/// A tenant's extension policy, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    pub aliases: Vec<Alias>,
    pub strict: bool,
}

impl Extensions {
    /// What the rules see of `user`: each aliased object merged into its target's object.
    /// Attributes sent in the target namespace itself win over aliased ones.
    pub fn view<'a>(&self, user: &'a Value) -> Cow<'a, Value> {
        let Some(object) = user.as_object() else {
            return Cow::Borrowed(user);
        };
        let present: Vec<(&Alias, String)> = self
            .aliases
            .iter()
            .filter_map(|alias| Some((alias, ci_key(object, &alias.source)?)))
            .collect();
        if present.is_empty() {
            return Cow::Borrowed(user);
        }
        let mut view = object.clone();
        for (alias, key) in present {
            let Some(Value::Object(source)) = object.get(&key) else {
                continue;
            };
            let target_key = ci_key(&view, &alias.target).unwrap_or_else(|| alias.target.clone());
            let slot = view
                .entry(target_key)
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(target) = slot else {
                continue;
            };
            for (name, value) in source {
                if ci_key(target, name).is_none() {
                    target.insert(name.clone(), value.clone());
                }
            }
        }
        Cow::Owned(Value::Object(view))
    }

    /// Whether a namespace is one the tenant accepts in strict mode: Canon's or an alias's.
    fn defines(&self, kind: Kind, urn: &str) -> bool {
        schema::schema_for(kind, urn).is_some()
            || (kind == Kind::User
                && self
                    .aliases
                    .iter()
                    .any(|a| a.source.eq_ignore_ascii_case(urn)))
    }

    /// Strict mode: a prepared body holding an extension of a namespace nobody defined is
    /// refused, by name.
    pub fn admit(&self, kind: Kind, body: &Value) -> Result<(), ScimError> {
        if !self.strict {
            return Ok(());
        }
        let unknown = body
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
            .find(|key| is_urn(key) && !self.defines(kind, key));
        match unknown {
            Some(urn) => Err(ScimError::InvalidValue(format!(
                "unknown schema extension `{urn}` for a {}: this tenant accepts only the \
                 namespaces in its `extensions.aliases` (strict mode)",
                kind.as_str()
            ))),
            None => Ok(()),
        }
    }

    /// The namespaces `/Schemas` serves beyond Canon's own: one per alias.
    pub fn schemas_json(&self, base: &str) -> Vec<Value> {
        self.aliases
            .iter()
            .map(|alias| alias_schema_json(alias, base))
            .collect()
    }

    /// The schema document of an aliased namespace, if `urn` is one.
    pub fn schema_json(&self, urn: &str, base: &str) -> Option<Value> {
        self.aliases
            .iter()
            .find(|a| a.source.eq_ignore_ascii_case(urn))
            .map(|alias| alias_schema_json(alias, base))
    }

    /// The User extensions `/ResourceTypes` lists beyond Canon's own.
    pub fn user_extensions(&self) -> impl Iterator<Item = &str> {
        self.aliases.iter().map(|a| a.source.as_str())
    }
}

/// An aliased namespace is served with the attributes of its target (those the rules read);
/// the description says the rest is stored as sent.
fn alias_schema_json(alias: &Alias, base: &str) -> Value {
    let target = schema::schema_for(Kind::User, &alias.target);
    let attributes = target.map_or_else(Vec::new, |s| schema::attributes_json(s.attrs));
    json!({
        "schemas": [schema::SCHEMA],
        "id": alias.source,
        "name": short_name(&alias.source),
        "description": format!(
            "Read by this tenant's rules as `{}`; every attribute is stored as sent",
            alias.target
        ),
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", alias.source)},
    })
}

/// A namespace's own name: `globex` for `urn:…:extension:globex:2.0:User`, the last segment
/// that is neither a version nor a resource type.
fn short_name(urn: &str) -> &str {
    urn.rsplit(':')
        .find(|segment| {
            let versioned = segment.starts_with(|c: char| c.is_ascii_digit());
            let typed = ["User", "Group"]
                .iter()
                .any(|t| segment.eq_ignore_ascii_case(t));
            !segment.is_empty() && !versioned && !typed
        })
        .unwrap_or(urn)
}

/// The tenant's program behind its aliases: maps the view, reports the program's version.
struct Aliased {
    program: Arc<dyn ProfileMapper>,
    extensions: Arc<Extensions>,
}

impl ProfileMapper for Aliased {
    fn version(&self) -> String {
        self.program.version()
    }

    fn map(&self, user: &Value) -> MappedProfile {
        self.program.map(&self.extensions.view(user))
    }

    fn has_org_graph(&self) -> bool {
        self.program.has_org_graph()
    }

    /// The aliases change what the rules read: a person's keys and manager too.
    fn org_signature(&self) -> String {
        let aliases: Vec<String> = self
            .extensions
            .aliases
            .iter()
            .map(|a| format!("{}={}", a.source, a.target))
            .collect();
        format!("{} {}", self.program.org_signature(), aliases.join(" "))
    }

    fn org_entry(&self, user: &Value) -> crate::eval::OrgEntry {
        self.program.org_entry(&self.extensions.view(user))
    }

    fn map_in(&self, user: &Value, population: &dyn crate::eval::Population) -> MappedProfile {
        self.program.map_in(&self.extensions.view(user), population)
    }

    fn reports_alike(&self, a: u64, b: u64) -> bool {
        self.program.reports_alike(a, b)
    }
}

/// `program` reading users through `extensions`' aliases (itself when there are none).
pub fn aliased(
    program: Arc<dyn ProfileMapper>,
    extensions: Arc<Extensions>,
) -> Arc<dyn ProfileMapper> {
    if extensions.aliases.is_empty() {
        return program;
    }
    Arc::new(Aliased {
        program,
        extensions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GLOBEX: &str = "urn:ietf:params:scim:schemas:extension:globex:2.0:User";

    fn config(aliases: &[(&str, &str)], strict: bool) -> ExtensionsConfig {
        ExtensionsConfig {
            aliases: aliases
                .iter()
                .map(|(s, t)| (s.to_string(), t.to_string()))
                .collect(),
            strict,
        }
    }

    #[test]
    fn aliases_resolve_or_say_what_is_wrong() {
        let resolved = config(&[(GLOBEX, "Canon"), ("urn:a:User", "urn:b:User")], false)
            .resolve()
            .unwrap();
        assert_eq!(
            resolved.aliases,
            [
                Alias {
                    source: "urn:a:User".into(),
                    target: "urn:b:User".into()
                },
                Alias {
                    source: GLOBEX.into(),
                    target: schema::CANON.into()
                },
            ]
        );
        for (source, target, says) in [
            ("globex", "canon", "not a namespace URN"),
            (schema::USER, "canon", "core schema"),
            (GLOBEX, "acme", "use `canon`, `enterprise`"),
            ("urn:a", "URN:A", "itself"),
        ] {
            let error = config(&[(source, target)], false).resolve().unwrap_err();
            assert!(error.contains(says), "{error}");
        }
    }

    /// The rules see the customer's attributes under Canon's namespace; what Canon's own
    /// namespace carries wins; the stored body is not touched.
    #[test]
    fn the_view_merges_aliased_objects_into_their_target() {
        let extensions = config(&[(GLOBEX, "canon")], false).resolve().unwrap();
        let user = json!({"userName": "a",
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:GLOBEX:2.0:USER": {"managementLevel": "VP", "office": "Lyon"},
            (schema::CANON): {"Office": "Paris"}});
        let view = extensions.view(&user);
        assert_eq!(
            view[schema::CANON],
            json!({"Office": "Paris", "managementLevel": "VP"})
        );
        let plain = json!({"userName": "a"});
        assert!(matches!(extensions.view(&plain), Cow::Borrowed(_)));
        let no_target = json!({"userName": "a", (GLOBEX): {"managementLevel": "VP"}});
        assert_eq!(
            extensions.view(&no_target)[schema::CANON],
            json!({"managementLevel": "VP"})
        );
    }

    /// The program behind the aliases sees the view; without aliases it is itself.
    #[test]
    fn the_aliased_program_maps_the_view() {
        struct Level;
        impl ProfileMapper for Level {
            fn version(&self) -> String {
                "v1".into()
            }
            fn map(&self, user: &Value) -> MappedProfile {
                MappedProfile {
                    fields: json!({"level": user[schema::CANON]["managementLevel"]}),
                    rules: json!({}),
                    rule_version: "v1".into(),
                    missing: vec![],
                }
            }
        }
        let program: Arc<dyn ProfileMapper> = Arc::new(Level);
        let user = json!({"userName": "a", (GLOBEX): {"managementLevel": "VP"}});
        let none = aliased(program.clone(), Arc::default());
        assert!(Arc::ptr_eq(&none, &program));
        assert_eq!(none.map(&user).fields, json!({"level": null}));
        let globex = config(&[(GLOBEX, "canon")], false).resolve().unwrap();
        let mapper = aliased(program, Arc::new(globex));
        assert_eq!(mapper.map(&user).fields, json!({"level": "VP"}));
        assert_eq!(mapper.version(), "v1");
    }

    #[test]
    fn namespaces_have_short_names() {
        assert_eq!(short_name(GLOBEX), "globex");
        assert_eq!(short_name("urn:acme:custom"), "custom");
        assert_eq!(short_name("urn:x:2.0:user:"), "x");
        assert_eq!(short_name("urn:2:User"), "urn");
    }

    #[test]
    fn strict_mode_admits_only_defined_namespaces() {
        let strict = config(&[(GLOBEX, "canon")], true).resolve().unwrap();
        let body = |urn: &str| json!({"userName": "a", (urn): {"x": 1}});
        assert!(strict.admit(Kind::User, &body(GLOBEX)).is_ok());
        assert!(strict.admit(Kind::User, &body(schema::ENTERPRISE)).is_ok());
        let refused = strict.admit(Kind::User, &body("urn:other:2.0:User"));
        assert!(
            matches!(&refused, Err(ScimError::InvalidValue(m)) if m.contains("`urn:other:2.0:User`")),
            "{refused:?}"
        );
        assert!(strict.admit(Kind::Group, &body(GLOBEX)).is_err());
        let lenient = config(&[], false).resolve().unwrap();
        assert!(lenient
            .admit(Kind::User, &body("urn:other:2.0:User"))
            .is_ok());
    }
}
