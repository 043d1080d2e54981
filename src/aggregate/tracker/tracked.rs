//! One session as a fetch saw it: what the next fetch needs to follow it.
//!
//! A large account lists a million sessions, and the tracker holds two
//! lists of these (the previous fetch's and the one being read), so every
//! byte counts against the memory bar (a million sessions under 64 MiB):
//! an entry is 22 bytes. The fields are typed; only [`Life`] packs four
//! flags into a byte, behind its own methods and tests.

use std::num::NonZeroU16;

use crate::aggregate::hash::MAX_LEN;

use crate::status::Stage;

/// A 64-bit hash held in four 16-bit words, so that an entry needs no
/// more alignment than two bytes: an entry is then 22 bytes, not 24.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Words([u16; 4]);

impl Words {
    fn new(value: u64) -> Self {
        Words([0, 16, 32, 48].map(|shift| (value >> shift) as u16))
    }

    fn get(self) -> u64 {
        (self.0.iter().rev()).fold(0, |value, &word| value << 16 | u64::from(word))
    }
}

/// The hash of a session's id ([`super::super::hash`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SessionKey(Words);

impl SessionKey {
    pub(crate) fn new(hash: u64) -> Self {
        SessionKey(Words::new(hash))
    }

    #[cfg(test)]
    fn get(self) -> u64 {
        self.0.get()
    }
}

/// How a session was written, by which the next fetch recalls it: the hash
/// of its bytes from its `{` to its `}`, how many they are, and its class
/// in its fetch's table ([`super::super::Tables`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written {
    hash: Words,
    /// A session is 2 bytes at least (`{}`) and at most what the hash
    /// covers ([`MAX_LEN`]) to be recalled.
    len: NonZeroU16,
    class: u16,
}

impl Written {
    /// `None` when the session is longer than the hash covers, or its
    /// class has no place in its fetch's table of kept classes.
    pub(crate) fn new(hash: u64, len: usize, class: usize) -> Option<Self> {
        if len > MAX_LEN {
            return None;
        }
        Some(Written {
            hash: Words::new(hash),
            len: NonZeroU16::new(u16::try_from(len).ok()?)?,
            class: u16::try_from(class).ok()?,
        })
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash.get()
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.len.get())
    }

    pub(crate) fn class(&self) -> usize {
        usize::from(self.class)
    }

    /// The same bytes, under another class.
    pub(crate) fn with_class(self, class: usize) -> Option<Self> {
        Some(Written {
            class: u16::try_from(class).ok()?,
            ..self
        })
    }
}

/// The sticky label of a session's status ([`super::super::labels`]):
/// fewer than 256 exist (the known statuses, 10 other final ones, 20 more
/// and `other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct StatusLabel(u8);

impl StatusLabel {
    pub(crate) fn new(label: u32) -> Self {
        debug_assert!(label <= u32::from(u8::MAX));
        StatusLabel(u8::try_from(label).unwrap_or(u8::MAX))
    }

    pub(crate) fn get(self) -> u32 {
        u32::from(self.0)
    }
}

/// What this exporter saw of a session's life, for the observation rule
/// (docs/metrics.md, "Reading the lifecycle histograms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Life(u8);

impl Life {
    /// Listed as `initializing` or `ready`.
    const STARTING: u8 = 1;
    /// Listed in a live status.
    const LIVE: u8 = 2;
    /// Started: listed as `running` (observed or not), waiting for input
    /// or paused.
    const STARTED: u8 = 4;
    /// Its first listing in a final status is past (observed or not).
    const ENDED: u8 = 8;

    fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }

    /// Listed as not started yet: a later `running` is a start to observe.
    pub(crate) fn seen_starting(self) -> bool {
        self.has(Self::STARTING)
    }

    /// Listed in a live status: a later final one is an end to observe.
    pub(crate) fn seen_live(self) -> bool {
        self.has(Self::LIVE)
    }

    pub(crate) fn started(self) -> bool {
        self.has(Self::STARTED)
    }

    pub(crate) fn ended(self) -> bool {
        self.has(Self::ENDED)
    }

    /// What is seen once the session is listed in a status of `stage`.
    pub(crate) fn listed(self, stage: Stage) -> Life {
        Life(
            self.0
                | match stage {
                    Stage::Starting => Self::STARTING | Self::LIVE,
                    Stage::Live => Self::LIVE,
                    Stage::Running | Stage::Started => Self::LIVE | Self::STARTED,
                    Stage::Final(_) => Self::ENDED,
                },
        )
    }
}

/// One session with an id, as a fetch listed it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tracked {
    pub(crate) key: SessionKey,
    /// What the next fetch recalls it by, unless it cannot be recalled.
    pub(crate) written: Option<Written>,
    /// Its status, for the removal counter and to tell a change of status.
    pub(crate) status: StatusLabel,
    pub(crate) life: Life,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_22_bytes() {
        assert_eq!(std::mem::size_of::<Tracked>(), 22);
        assert_eq!(std::mem::size_of::<Option<Written>>(), 12);
    }

    #[test]
    fn keys_and_hashes_read_back_whole() {
        for value in [0, 1, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(SessionKey::new(value).get(), value);
            let written = Written::new(value, 135, 7).unwrap_or_else(|| panic!("{value}"));
            assert_eq!(
                (written.hash(), written.len(), written.class()),
                (value, 135, 7)
            );
        }
        assert_eq!(Written::new(1, 0, 0), None, "no session is empty");
        assert_eq!(Written::new(1, 70_000, 0), None, "too long to recall");
        assert_eq!(Written::new(1, 500, 70_000), None, "no place in the table");
        assert_eq!(
            Written::new(1, 500, 3)
                .and_then(|w| w.with_class(9))
                .map(|w| w.class()),
            Some(9)
        );
    }

    #[test]
    fn life_remembers_each_stage_listed_and_forgets_none() {
        let starting = Life::default().listed(Stage::Starting);
        assert!(starting.seen_starting() && starting.seen_live());
        assert!(!starting.started() && !starting.ended());
        let waiting = starting.listed(Stage::Started);
        assert!(waiting.started() && waiting.seen_starting());
        let ended = waiting.listed(Stage::Final(1));
        assert!(ended.ended() && ended.started() && ended.seen_live());
        let first_seen_final = Life::default().listed(Stage::Final(0));
        assert!(first_seen_final.ended() && !first_seen_final.seen_live());
        let unknown_live = Life::default().listed(Stage::Live);
        assert!(unknown_live.seen_live() && !unknown_live.started());
        assert!(Life::default().listed(Stage::Running).started());
    }
}
