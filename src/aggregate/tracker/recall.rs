//! Recalling a session instead of reading it: when the bytes where the
//! next session starts are exactly those the session in step with the
//! baseline was written as.
//!
//! Between two scrapes most sessions of an account do not change (a
//! finished one never does), and an API writes an unchanged session in the
//! same bytes. The baseline keeps, for each session, the hash of its
//! bytes, their length and its class ([`Written`]), and for a live one its
//! creation time. Before a
//! session is read, the fold hashes as many bytes from its `{` and compares
//! them with the entry in step, the one the cursor of [`super::matching`]
//! expects next: equal, the session is that one, listed as then, and is
//! counted from its class without being read. The hash is keyed
//! ([`crate::aggregate::hash`]): two different sessions hash alike with
//! odds below 2^-62.
//!
//! Only the entry in step is compared: no look-ahead (a session deleted
//! since is one miss, then the sessions after it are read and placed, and
//! the cursor is in step again). After a session recalled, the ones right
//! after it are tried in the same call (a run), which saves the parser a
//! call and a check per session.
//!
//! A live session has an age: the baseline keeps its creation time beside
//! the list (for a quarter of the list at most, [`super::Age`]), and it is
//! recalled only when it cannot be among the `--sessions.top-oldest`,
//! whose ids only reading gives.

use super::{FetchTracking, Tracked, age_in, keep_age};
use crate::aggregate::classes::{Labeller, MAX_KEPT_CLASSES, Tables};
use crate::aggregate::oldest::OldestSessions;
use crate::api::parse::{Recalled, next_session};

impl FetchTracking<'_> {
    /// The sessions at the start of `ahead`, from the first one's `{`,
    /// written as the baseline's entries in step with them, counted into
    /// `tables`; `None` when the first one is not.
    #[inline]
    pub(crate) fn recall(
        &mut self,
        ahead: &[u8],
        tables: &mut Tables,
        labeller: &mut Labeller<'_>,
        oldest: &mut OldestSessions,
    ) -> Option<Recalled> {
        let baseline = self.tracker.baseline.as_ref()?;
        let mut run = Recalled {
            sessions: 0,
            len: 0,
        };
        let mut j = self.matching.cursor;
        let mut start = 0;
        while let Some(previous) = baseline.sessions.get(j)
            && let Some(written) = previous.written
            && !self.matching.used.is_set(j)
        {
            let len = written.len();
            let bytes = &ahead[start..];
            if bytes.get(len - 1) != Some(&b'}') || self.hash.of(&bytes[..len]) != written.hash() {
                break;
            }
            let Some(class) = tables.recalled(written.class(), &baseline.classes, labeller) else {
                break;
            };
            // A live session counts with its creation time, unless it has
            // none; one that may be among the oldest is read, for its id.
            let created_at = if tables.needs_age(class) {
                let Some(created_at) =
                    age_in(&baseline.ages, &mut self.age_at, j, baseline.sent_at)
                else {
                    break;
                };
                if oldest.may_keep(created_at) {
                    break;
                }
                Some(created_at)
            } else {
                None
            };
            tables.count(class, created_at);
            self.matching.used.set(j);
            self.matching.cursor = j + 1;
            let entry = self.listed.len();
            self.listed.push(Tracked {
                // Its class is this fetch's now, if the table keeps it.
                written: (class < MAX_KEPT_CLASSES)
                    .then(|| written.with_class(class))
                    .flatten(),
                ..*previous
            });
            if created_at.is_some() && self.listed[entry].written.is_some() {
                let previous = self.matching.used.len();
                keep_age(
                    &mut self.ages,
                    &mut self.listed,
                    previous,
                    entry,
                    created_at,
                    self.times.sent_at,
                );
            }
            run.sessions += 1;
            run.len = start + len;
            let Some(next) = next_session(ahead, run.len) else {
                break;
            };
            (j, start) = (j + 1, next);
        }
        (run.sessions > 0).then_some(run)
    }
}
