//! The agents, statuses and classes of one fetch.
//!
//! A session is counted by its class ([`ClassKey`]): its agent, its status
//! and which of its fields were unusable. That is all the session families
//! and the lifecycle counters read of a session besides its id and its
//! time, so a session recalled from the previous fetch (written exactly as
//! then) is counted by the class it had, exactly as reading it again would
//! count it. A new dimension a session is counted by is a field of
//! [`ClassKey`], read in one place ([`super::Aggregator`]'s fold); the
//! property tests that hold recalling to reading catch a class that forgets
//! it.
//!
//! Each distinct agent and status of a body is looked up once by text; its
//! sticky lifecycle label ([`super::labels::StickyLabels`]) is given then.
//! A small cache by short keys ([`super::pairs`]) sits in front of the maps
//! for the common case.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use foldhash::{HashMap, HashMapExt};

use super::labels::{LabelId, NewLabels};
use super::lifecycle::LifecycleState;
use super::pairs::{PairCache, ShortKey};
use super::tracker::StatusLabel;
use super::{InvalidFields, min_option};
use crate::api::redact::Redactor;
use crate::api::timestamp::UnixMillis;
use crate::status::{KnownStatus, Stage, StatusModel};
use crate::sync::lock;

/// Index of an agent name within one fetch.
pub(crate) type AgentId = usize;
/// Index of a status value within one fetch; the statuses always there
/// ([`StatusModel::fixed`]) come first.
pub(crate) type StatusId = usize;
/// Index of a class within one fetch.
pub(crate) type ClassId = usize;

/// Classes of a fetch that the next one can recall sessions by, at most:
/// far more than an account has (agents times statuses), few enough that
/// the texts kept from one fetch to the next stay small.
pub(crate) const MAX_KEPT_CLASSES: usize = 4096;

/// Which of a session's fields were missing or unreadable, as
/// `agi_invalid_session_fields_total` counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct Unusable {
    pub(crate) status: bool,
    pub(crate) agent: bool,
    pub(crate) created_at: bool,
}

impl Unusable {
    fn counted(self, n: u64) -> InvalidFields {
        InvalidFields {
            status: n * u64::from(self.status),
            agent_name: n * u64::from(self.agent),
            created_at: n * u64::from(self.created_at),
        }
    }
}

/// What a session is counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClassKey {
    pub(crate) agent: AgentId,
    pub(crate) status: StatusId,
    pub(crate) unusable: Unusable,
}

/// A class as the next fetch recalls sessions by it: by text, since ids
/// belong to one fetch.
#[derive(Debug, Clone)]
pub(crate) struct KeptClass {
    agent: String,
    status: String,
    unusable: Unusable,
}

/// One status value of a body.
#[derive(Debug)]
pub(crate) struct StatusEntry {
    /// The value as kept for its label.
    pub(crate) source: String,
    pub(crate) stage: Stage,
    /// Its lifecycle label.
    pub(crate) label: StatusLabel,
}

/// One agent name of a body.
#[derive(Debug)]
pub(crate) struct AgentEntry {
    /// The name as kept for its label.
    pub(crate) source: String,
    /// Its lifecycle label.
    pub(crate) label: LabelId,
}

/// One class of a body and what its sessions come to.
#[derive(Debug)]
pub(crate) struct ClassEntry {
    pub(crate) key: ClassKey,
    pub(crate) count: u64,
    /// The oldest `created_at` of its sessions, for a live status.
    pub(crate) oldest: Option<UnixMillis>,
}

/// Gives the lifecycle labels of the values a fetch sees first: read from
/// the labels given so far, added to the fetch's own until it commits.
#[derive(Debug)]
pub(crate) struct Labeller<'t> {
    pub(crate) state: Arc<Mutex<LifecycleState>>,
    pub(crate) redactor: &'t Redactor,
    pub(crate) statuses: NewLabels,
    pub(crate) agents: NewLabels,
}

impl Labeller<'_> {
    fn status(&mut self, source: &str) -> StatusLabel {
        let state = lock(&self.state);
        StatusLabel::new(state.statuses.id(&mut self.statuses, source, self.redactor))
    }

    fn agent(&mut self, source: &str) -> LabelId {
        let state = lock(&self.state);
        state.agents.id(&mut self.agents, source, self.redactor)
    }
}

/// The agents, statuses and classes of one fetch.
#[derive(Debug)]
pub(crate) struct Tables {
    pub(crate) model: StatusModel,
    pub(crate) statuses: Vec<StatusEntry>,
    status_ids: HashMap<String, StatusId>,
    pub(crate) agents: Vec<AgentEntry>,
    agent_ids: HashMap<String, AgentId>,
    pub(crate) classes: Vec<ClassEntry>,
    class_ids: HashMap<ClassKey, ClassId>,
    /// The ids of agent and status, and their class with no unusable
    /// field, by the agent's and status's short keys.
    cache: PairCache<(AgentId, StatusId, Option<ClassId>)>,
    /// What each class of the previous fetch's kept table is in this one,
    /// once a session recalled by it was met.
    recalled_as: Vec<Option<ClassId>>,
}

impl Tables {
    /// A fetch's tables, with the statuses always there.
    pub(crate) fn new(model: StatusModel, labeller: &mut Labeller<'_>) -> Self {
        let mut tables = Tables {
            model,
            statuses: Vec::new(),
            status_ids: HashMap::new(),
            agents: Vec::new(),
            agent_ids: HashMap::new(),
            classes: Vec::new(),
            class_ids: HashMap::new(),
            cache: PairCache::new(),
            recalled_as: Vec::new(),
        };
        let model = tables.model.clone();
        for status in model.fixed() {
            let id = tables.add_status(status, labeller);
            if KnownStatus::parse(status).is_none() {
                tables.status_ids.insert(status.to_owned(), id);
            }
        }
        tables
    }

    /// The ids of a session's agent and status (as kept for their labels),
    /// and the class of such a session with no unusable field.
    #[inline]
    pub(crate) fn ids(
        &mut self,
        agent: &str,
        status: &str,
        labeller: &mut Labeller<'_>,
    ) -> (AgentId, StatusId, Option<ClassId>) {
        let keys = ShortKey::of(agent).zip(ShortKey::of(status));
        if let Some(ids) = keys.and_then(|(agent, status)| self.cache.get(agent, status)) {
            return ids;
        }
        let (agent_id, status_id) = (
            self.agent_id(agent, labeller),
            self.status_id(status, labeller),
        );
        let clean = self.class_of(ClassKey {
            agent: agent_id,
            status: status_id,
            unusable: Unusable::default(),
        });
        let ids = (agent_id, status_id, Some(clean));
        if let Some((agent, status)) = keys {
            self.cache.put(agent, status, ids);
        }
        ids
    }

    /// The id of an agent this fetch listed, by its name as kept.
    pub(crate) fn agent_index(&self, agent: &str) -> Option<AgentId> {
        self.agent_ids.get(agent).copied()
    }

    /// The id of a status this fetch listed, by its value as kept.
    pub(crate) fn status_index(&self, status: &str) -> Option<StatusId> {
        KnownStatus::parse(status)
            .map(KnownStatus::index)
            .or_else(|| self.status_ids.get(status).copied())
    }

    /// The class of `key`, added if new.
    pub(crate) fn class_of(&mut self, key: ClassKey) -> ClassId {
        if let Some(&class) = self.class_ids.get(&key) {
            return class;
        }
        let class = self.classes.len();
        self.classes.push(ClassEntry {
            key,
            count: 0,
            oldest: None,
        });
        self.class_ids.insert(key, class);
        class
    }

    fn status_id(&mut self, status: &str, labeller: &mut Labeller<'_>) -> StatusId {
        if let Some(known) = KnownStatus::parse(status) {
            return known.index();
        }
        if let Some(&id) = self.status_ids.get(status) {
            return id;
        }
        let id = self.add_status(status, labeller);
        self.status_ids.insert(status.to_owned(), id);
        id
    }

    fn add_status(&mut self, status: &str, labeller: &mut Labeller<'_>) -> StatusId {
        let id = self.statuses.len();
        self.statuses.push(StatusEntry {
            source: status.to_owned(),
            stage: self.model.stage(status),
            label: labeller.status(status),
        });
        id
    }

    fn agent_id(&mut self, agent: &str, labeller: &mut Labeller<'_>) -> AgentId {
        if let Some(&id) = self.agent_ids.get(agent) {
            return id;
        }
        let id = self.agents.len();
        self.agents.push(AgentEntry {
            source: agent.to_owned(),
            label: labeller.agent(agent),
        });
        self.agent_ids.insert(agent.to_owned(), id);
        id
    }

    /// Whether a session of `class` has an age: its status is live and
    /// its `created_at` readable.
    pub(crate) fn needs_age(&self, class: ClassId) -> bool {
        let key = self.classes[class].key;
        self.statuses[key.status].stage.is_live() && !key.unusable.created_at
    }

    /// Counts one session of `class`, created at `created_at` if its
    /// status is live.
    #[inline]
    pub(crate) fn count(&mut self, class: ClassId, created_at: Option<UnixMillis>) {
        let entry = &mut self.classes[class];
        entry.count += 1;
        entry.oldest = min_option(entry.oldest, created_at);
    }

    /// The class in this fetch of a session recalled by `previous`, its
    /// class in the previous fetch's `kept` table.
    #[inline]
    pub(crate) fn recalled(
        &mut self,
        previous: usize,
        kept: &[KeptClass],
        labeller: &mut Labeller<'_>,
    ) -> Option<ClassId> {
        if let Some(Some(class)) = self.recalled_as.get(previous) {
            return Some(*class);
        }
        let KeptClass {
            agent,
            status,
            unusable,
        } = kept.get(previous)?;
        let key = ClassKey {
            agent: self.agent_id(agent, labeller),
            status: self.status_id(status, labeller),
            unusable: *unusable,
        };
        let class = self.class_of(key);
        if self.recalled_as.len() <= previous {
            self.recalled_as.resize(previous + 1, None);
        }
        self.recalled_as[previous] = Some(class);
        Some(class)
    }

    /// The classes the next fetch can recall sessions by: this fetch's
    /// first [`MAX_KEPT_CLASSES`].
    pub(crate) fn kept(&self) -> Vec<KeptClass> {
        (self.classes.iter().take(MAX_KEPT_CLASSES))
            .map(|class| KeptClass {
                agent: self.agents[class.key.agent].source.clone(),
                status: self.statuses[class.key.status].source.clone(),
                unusable: class.key.unusable,
            })
            .collect()
    }

    /// The sessions listed, and their unusable fields.
    pub(crate) fn totals(&self) -> (u64, InvalidFields) {
        let mut invalid = InvalidFields::default();
        let mut sessions = 0;
        for class in &self.classes {
            sessions += class.count;
            invalid.add(class.key.unusable.counted(class.count));
        }
        (sessions, invalid)
    }
}

/// A status or agent name as kept for its label, and whether it was
/// unusable: the string when there is one, else `unknown`.
pub(crate) fn label_value<'a>(field: Option<&'a str>) -> (Cow<'a, str>, bool) {
    match field {
        Some(text) => (Cow::Borrowed(super::labels::label_source(text)), false),
        None => (Cow::Borrowed(super::labels::UNKNOWN), true),
    }
}
