//! Generated people as the SCIM users Okta would send.

use super::vocab::{ACTIVE_STATUSES, CSV_HEADER};

/// A person's CSV row → SCIM 2.0 User, as Okta would POST it (empty attributes omitted).
pub(super) fn scim_user(row: &[String; 33]) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
    let get = |name: &str| {
        CSV_HEADER
            .iter()
            .position(|h| *h == name)
            .map(|i| row[i].as_str())
            .unwrap_or_default()
    };
    let mut user = Map::new();
    user.insert("schemas".into(), json!([CORE, ENTERPRISE, ACME]));
    user.insert("externalId".into(), json!(get("id")));
    user.insert("userName".into(), json!(get("login")));
    let mut name = Map::new();
    for (attr, col) in [
        ("givenName", "firstName"),
        ("familyName", "lastName"),
        ("middleName", "middleName"),
    ] {
        if !get(col).is_empty() {
            name.insert(attr.into(), json!(get(col)));
        }
    }
    user.insert("name".into(), Value::Object(name));
    for (attr, col) in [
        ("displayName", "displayName"),
        ("nickName", "nickName"),
        ("title", "title"),
        ("userType", "userType"),
        ("preferredLanguage", "preferredLanguage"),
        ("locale", "locale"),
        ("timezone", "timezone"),
    ] {
        if !get(col).is_empty() {
            user.insert(attr.into(), json!(get(col)));
        }
    }
    user.insert(
        "active".into(),
        json!(ACTIVE_STATUSES.contains(&get("status").trim().to_lowercase().as_str())),
    );
    let mut emails = vec![json!({"value": get("email"), "type": "work", "primary": true})];
    if !get("secondEmail").is_empty() {
        emails.push(json!({"value": get("secondEmail"), "type": "home", "primary": false}));
    }
    user.insert("emails".into(), Value::Array(emails));
    if !get("mobilePhone").is_empty() {
        user.insert(
            "phoneNumbers".into(),
            json!([{"value": get("mobilePhone"), "type": "mobile"}]),
        );
    }
    let mut address = Map::new();
    address.insert("type".into(), json!("work"));
    address.insert("primary".into(), json!(true));
    for (attr, col) in [
        ("streetAddress", "streetAddress"),
        ("locality", "city"),
        ("region", "state"),
        ("postalCode", "zipCode"),
        ("country", "countryCode"),
    ] {
        if !get(col).is_empty() {
            address.insert(attr.into(), json!(get(col)));
        }
    }
    if address.len() > 2 {
        user.insert("addresses".into(), json!([address]));
    }
    let mut enterprise = Map::new();
    for (attr, col) in [
        ("employeeNumber", "employeeNumber"),
        ("costCenter", "costCenter"),
        ("organization", "organization"),
        ("division", "division"),
        ("department", "department"),
    ] {
        if !get(col).is_empty() {
            enterprise.insert(attr.into(), json!(get(col)));
        }
    }
    if !get("managerId").is_empty() || !get("manager").is_empty() {
        let mut manager = Map::new();
        if !get("managerId").is_empty() {
            manager.insert("value".into(), json!(get("managerId")));
        }
        if !get("manager").is_empty() {
            manager.insert("displayName".into(), json!(get("manager")));
        }
        enterprise.insert("manager".into(), Value::Object(manager));
    }
    user.insert(ENTERPRISE.into(), Value::Object(enterprise));
    let mut acme = Map::new();
    acme.insert("managementLevel".into(), json!(get("managementLevel")));
    acme.insert("peopleManager".into(), json!(get("isManager")));
    if !get("managerEmail").is_empty() {
        acme.insert("managerEmail".into(), json!(get("managerEmail")));
    }
    user.insert(ACME.into(), Value::Object(acme));
    Value::Object(user)
}
