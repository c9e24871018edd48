//! What a page computed over a customer's users, kept per customer for what it was computed
//! from (a key naming the rules, the users, the draft…): a later request with the same key
//! reads it instead of computing it again; another key replaces it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::store::TenantId;

/// Each customer's last `T`, with its key.
pub(crate) struct Kept<T>(Mutex<HashMap<TenantId, (String, Arc<T>)>>);

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept(Mutex::default())
    }
}

impl<T> Kept<T> {
    /// The customer's kept `T`, if it was kept for `key`.
    pub fn get(&self, tenant: &TenantId, key: &str) -> Option<Arc<T>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(tenant)
            .filter(|(kept, _)| kept == key)
            .map(|(_, value)| value.clone())
    }

    /// Keeps `value` for `key` in place of what the customer had (`None`: keeps nothing).
    pub fn put(&self, tenant: &TenantId, key: String, value: Option<Arc<T>>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match value {
            Some(value) => map.insert(tenant.clone(), (key, value)),
            None => map.remove(tenant),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_read_back_for_its_key_only() {
        let kept = Kept::<u32>::default();
        let (acme, globex) = (
            TenantId::parse("acme").unwrap(),
            TenantId::parse("globex").unwrap(),
        );
        kept.put(&acme, "v1".into(), Some(Arc::new(1)));
        assert_eq!(kept.get(&acme, "v1").as_deref(), Some(&1));
        assert_eq!(kept.get(&acme, "v2"), None);
        assert_eq!(kept.get(&globex, "v1"), None);
        kept.put(&acme, "v2".into(), Some(Arc::new(2)));
        assert_eq!(kept.get(&acme, "v1"), None);
        kept.put(&acme, "v2".into(), None);
        assert_eq!(kept.get(&acme, "v2"), None);
    }
}
