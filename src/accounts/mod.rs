//! The named accounts of `--config.file`, each an [`Account`] of its own,
//! and what keeps them as the file says while the exporter runs.
//!
//! Each account has its own tracker, counters, in-flight request, cache,
//! back-off and key file; they share the process's lanes and its keyring.
//! When the file changes it is read again: a new account starts, a removed
//! one stops (its state is freed once a request under way ends), and one
//! that stays keeps its counters. A new key file, key variable, timeout,
//! cache TTL or size cap is applied to the running account; a new URL or
//! list of final statuses starts the account anew, since its counts would
//! mean something else. A file that cannot be used changes nothing: the
//! last good one stays, with a warning.

pub(crate) mod file;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::account::{Account, AccountSettings, Setup};
use crate::aggregate::Limits;
use crate::api::{ApiClient, ClientError};
use crate::deadline::DeadlinePolicy;
use crate::process::Process;
use crate::watch::Fingerprint;
use file::{AccountDefaults, AccountSpec, Loaded};

/// `--config.file`, as checked at start: its path, the flags' defaults for
/// what it leaves out, and its accounts.
#[derive(Debug)]
pub struct AccountsConfig {
    pub(crate) path: PathBuf,
    pub(crate) defaults: AccountDefaults,
    pub(crate) loaded: Vec<Loaded>,
}

/// The accounts in force.
#[derive(Debug)]
pub(crate) struct Accounts {
    path: PathBuf,
    defaults: AccountDefaults,
    limits: Limits,
    timeout_offset: Duration,
    process: Arc<Process>,
    current: RwLock<Arc<BTreeMap<String, Entry>>>,
}

/// One account and the spec it runs by.
#[derive(Debug, Clone)]
struct Entry {
    spec: AccountSpec,
    account: Arc<Account>,
}

impl Accounts {
    /// Starts the file's accounts.
    pub(crate) fn start(
        config: AccountsConfig,
        limits: Limits,
        timeout_offset: Duration,
        process: Arc<Process>,
    ) -> Result<Self, AccountsError> {
        let accounts = Accounts {
            path: config.path,
            defaults: config.defaults,
            limits,
            timeout_offset,
            process,
            current: RwLock::new(Arc::default()),
        };
        accounts.apply(config.loaded)?;
        Ok(accounts)
    }

    /// The account named `name`, if the file names it.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Account>> {
        let current = self.current();
        current.get(name).map(|entry| Arc::clone(&entry.account))
    }

    /// The names of the accounts, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        self.current().keys().cloned().collect()
    }

    fn current(&self) -> Arc<BTreeMap<String, Entry>> {
        let current = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(&current)
    }

    /// Checks the file every `interval` and applies what changed, and
    /// tells the keyring every account's key as its key file holds it,
    /// until dropped.
    pub(crate) async fn keep_current(self: Arc<Self>, interval: Duration) {
        let fingerprint = |path: &PathBuf| Fingerprint::of([path.clone()]);
        let mut seen = fingerprint(&self.path);
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // Every account's key, as its key file now holds it, redacts
            // every account's text, whichever account fetches next.
            for entry in self.current().values() {
                entry.account.learn_key();
            }
            let now = fingerprint(&self.path);
            if now == seen {
                continue;
            }
            seen = now;
            let (path, defaults) = (self.path.clone(), self.defaults.clone());
            let loaded = tokio::task::spawn_blocking(move || {
                file::load(&path, &defaults, &file::process_env)
            })
            .await;
            let applied = match loaded {
                Ok(Ok(loaded)) => self.apply(loaded).map_err(|e| e.to_string()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(error) => Err(error.to_string()),
            };
            if let Err(error) = applied {
                tracing::warn!(%error, "keeping the previous accounts");
            }
        }
    }

    /// Makes `loaded` the accounts in force: starts the new ones, applies a
    /// new setup to the ones that keep their counters, and lets the others
    /// go. All or nothing: on an error, the accounts stay as they were.
    fn apply(&self, loaded: Vec<Loaded>) -> Result<(), AccountsError> {
        let before = self.current();
        let mut after = BTreeMap::new();
        let mut changes = Changes::default();
        for Loaded { spec, key } in loaded {
            let name = spec.name.clone();
            let http = self.process.http();
            let setup = |key| -> Result<Setup, ClientError> {
                Ok(Setup {
                    client: ApiClient::new(http, &spec.url, key, spec.max_response_bytes),
                    cache_ttl: spec.cache_ttl,
                    deadlines: DeadlinePolicy {
                        api_timeout: spec.timeout,
                        timeout_offset: self.timeout_offset,
                    },
                })
            };
            let entry = match before.get(&name) {
                // The key source is kept too: a key file is read anew
                // before every request anyway.
                Some(entry) if entry.spec == spec => entry.clone(),
                Some(entry)
                    if entry.spec.url == spec.url && entry.spec.statuses == spec.statuses =>
                {
                    changes.changed.push(name.clone());
                    // Applied below, once every account could be set up.
                    changes
                        .setups
                        .push((Arc::clone(&entry.account), setup(key)?));
                    Entry {
                        spec: spec.clone(),
                        account: Arc::clone(&entry.account),
                    }
                }
                previous => {
                    let list = if previous.is_some() {
                        &mut changes.restarted
                    } else {
                        &mut changes.added
                    };
                    list.push(name.clone());
                    let settings = AccountSettings {
                        limits: self.limits,
                        statuses: spec.statuses.clone(),
                    };
                    let account = Account::new(
                        Some(name.clone()),
                        setup(key)?,
                        settings,
                        Arc::clone(&self.process),
                    );
                    Entry {
                        spec,
                        account: Arc::new(account),
                    }
                }
            };
            after.insert(name, entry);
        }
        changes.removed = before
            .keys()
            .filter(|name| !after.contains_key(*name))
            .cloned()
            .collect();
        for (account, setup) in changes.setups.drain(..) {
            account.replace_setup(setup);
        }
        let names: Vec<&str> = after.keys().map(String::as_str).collect();
        self.process.keyring().retain(&names);
        for entry in after.values() {
            entry.account.learn_key();
        }
        let count = after.len();
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(after);
        changes.log(&self.path, count, before.is_empty());
        Ok(())
    }
}

/// What a reload did, for its log line.
#[derive(Debug, Default)]
struct Changes {
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
    restarted: Vec<String>,
    setups: Vec<(Arc<Account>, Setup)>,
}

impl Changes {
    fn log(&self, path: &std::path::Path, count: usize, first: bool) {
        let path = path.display();
        if first {
            tracing::info!(%path, accounts = count, "loaded the config file");
            return;
        }
        let join = |names: &[String]| names.join(",");
        tracing::info!(
            %path,
            accounts = count,
            added = join(&self.added),
            removed = join(&self.removed),
            changed = join(&self.changed),
            restarted = join(&self.restarted),
            "reloaded the config file"
        );
    }
}

/// Why accounts could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// An account's HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
}
