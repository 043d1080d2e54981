//! Every key the process holds, for redaction: with several accounts, each
//! account's text (its errors, its labels) is redacted of every account's
//! key, so that an API that echoes another account's key shows none.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::key::ApiKey;
use super::redact::Redactor;
use crate::sync::lock;

/// The keys in use, by account, and the redactor of them all.
#[derive(Debug, Default)]
pub(crate) struct Keyring {
    state: Mutex<KeyringState>,
}

#[derive(Debug, Default)]
struct KeyringState {
    keys: BTreeMap<String, ApiKey>,
    /// Made again when a key comes, changes or goes; `None` before any.
    redactor: Option<Arc<Redactor>>,
}

impl Keyring {
    /// What `account`'s text is redacted with, now that it uses `key`. The
    /// same redactor (the same `Arc`) as long as no key of the process
    /// changed, so that a cached result stays usable exactly as long.
    pub(crate) fn redactor(&self, account: &str, key: &ApiKey) -> Arc<Redactor> {
        let mut state = lock(&self.state);
        state.learn(account, key);
        state.redactor()
    }

    /// Notes that `account` uses `key`; the redactor of them all is made
    /// again when next asked for, once however many keys changed.
    pub(crate) fn learn(&self, account: &str, key: &ApiKey) {
        lock(&self.state).learn(account, key);
    }

    /// Forgets the keys of accounts that are not in `accounts`.
    pub(crate) fn retain(&self, accounts: &[&str]) {
        let mut state = lock(&self.state);
        let before = state.keys.len();
        state
            .keys
            .retain(|name, _| accounts.contains(&name.as_str()));
        if state.keys.len() != before {
            state.redactor = None;
        }
    }
}

impl KeyringState {
    fn learn(&mut self, account: &str, key: &ApiKey) {
        if self.keys.get(account) != Some(key) {
            self.keys.insert(account.to_owned(), key.clone());
            self.redactor = None;
        }
    }

    fn redactor(&mut self) -> Arc<Redactor> {
        let keys = &self.keys;
        let made = self.redactor.get_or_insert_with(|| {
            let mut each = keys.values();
            match (each.next(), each.next()) {
                // One key: its own redactor, as prepared with it.
                (Some(only), None) => Arc::clone(only.redactor()),
                _ => Arc::new(Redactor::union(
                    keys.values().map(|key| key.redactor().as_ref()),
                )),
            }
        });
        Arc::clone(made)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> ApiKey {
        ApiKey::new(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn each_account_is_redacted_of_every_key() {
        let keyring = Keyring::default();
        let prod = key("prod-key-0123456789");
        let staging = key("staging-key-9876543210");
        let first = keyring.redactor("prod", &prod);
        assert_eq!(first.redact("prod-key-0123456789"), "<redacted>");
        let both = keyring.redactor("staging", &staging);
        for text in ["prod-key-0123456789", "staging-key-9876543210"] {
            assert_eq!(both.redact(text), "<redacted>", "{text}");
            assert_eq!(keyring.redactor("prod", &prod).redact(text), "<redacted>");
        }
        assert!(Arc::ptr_eq(&both, &keyring.redactor("prod", &prod)));
        keyring.retain(&["staging"]);
        let after = keyring.redactor("staging", &staging);
        assert!(!Arc::ptr_eq(&both, &after));
        assert_eq!(after.redact("prod-key-0123456789"), "prod-key-0123456789");
    }

    #[test]
    fn a_new_key_makes_a_new_redactor() {
        let keyring = Keyring::default();
        let first = keyring.redactor("a", &key("first-key-abcdefgh"));
        assert!(Arc::ptr_eq(
            &first,
            &keyring.redactor("a", &key("first-key-abcdefgh"))
        ));
        let second = keyring.redactor("a", &key("second-key-zyxwvuts"));
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(second.redact("first-key-abcdefgh"), "first-key-abcdefgh");
    }
}
