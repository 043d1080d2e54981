//! What the lifecycle families count of one fetch: sessions entering a
//! status, new sessions, and the observations of the two histograms.
//!
//! The observation rule (docs/metrics.md, "Reading the lifecycle histograms"): a
//! session is observed only when this exporter saw the change happen, that
//! is when an earlier successful fetch listed it in a status before the one
//! observed (`initializing` or `ready` before `running`; a live status
//! before a final one), or when it was created after the previous
//! successful fetch was sent. Each session is observed at most once per
//! histogram, with the time from its `created_at` to this fetch.

use foldhash::{HashMap, HashMapExt};

use super::FetchTimes;
use super::matching::Place;
use super::tracked::{Life, StatusLabel};
use crate::aggregate::labels::LabelId;
use crate::aggregate::lifecycle::{Histogram, Latest, bucket_of};
use crate::api::timestamp::UnixMillis;
use crate::status::Stage;

/// What placing a session needs of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Listing {
    pub(crate) agent: LabelId,
    pub(crate) status: StatusLabel,
    pub(crate) stage: Stage,
}

/// What a session was before this fetch, when a fetch listed it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Before {
    pub(crate) status: StatusLabel,
    pub(crate) life: Life,
}

/// One fetch's counts, by lifecycle label, with the session behind each
/// (its id as listed, not yet a label).
#[derive(Debug, Default)]
pub(crate) struct Observing {
    pub(crate) entered: HashMap<(LabelId, LabelId), u64>,
    /// The last session of this fetch that entered each status.
    pub(crate) entered_last: HashMap<(LabelId, LabelId), String>,
    pub(crate) seen: HashMap<LabelId, u64>,
    pub(crate) observations: Vec<(Histogram, f64)>,
    /// The last observation of this fetch in each bucket: one id per
    /// bucket, however many sessions fell in it.
    pub(crate) latest: HashMap<(Histogram, usize), Latest>,
}

impl Observing {
    pub(crate) fn new() -> Self {
        Observing {
            entered: HashMap::new(),
            entered_last: HashMap::new(),
            seen: HashMap::new(),
            observations: Vec::new(),
            latest: HashMap::new(),
        }
    }

    /// Follows the session `id` placed at `place` (`before` being what that
    /// place held), listed as `listing`, created at what `created_at` reads;
    /// returns what is seen of its life now. `previous_sent`, beside this
    /// fetch's `times`, is when the baseline's request was sent, `None` at
    /// the first fetch, which only records a baseline.
    pub(crate) fn follow(
        &mut self,
        (id, listing): (&str, Listing),
        place: Place,
        before: Option<Before>,
        (times, previous_sent): (FetchTimes, Option<UnixMillis>),
        created_at: impl FnOnce() -> Option<UnixMillis>,
    ) -> Life {
        let Listing {
            agent,
            status,
            stage,
        } = listing;
        let life = before.map_or(Life::default(), |b| b.life);
        let Some(previous_sent) = previous_sent else {
            return life.listed(stage);
        };
        let entered = match (place, before) {
            (Place::New, _) => {
                *self.seen.entry(agent).or_insert(0) += 1;
                true
            }
            (_, Some(before)) => before.status != status,
            (_, None) => false,
        };
        if entered {
            let series = (agent, status.get());
            *self.entered.entry(series).or_insert(0) += 1;
            let last = self.entered_last.entry(series).or_default();
            last.clear();
            last.push_str(id);
        }
        // A created_at later than this answer (the API's clock ahead) does
        // not make a session new: it may have been listed before and missed
        // by two fetches, and been observed then.
        let received_at = times.received_at;
        let observe = |watched: bool| {
            let created_at = created_at();
            let new = place == Place::New
                && created_at.is_some_and(|c| c > previous_sent && c <= received_at);
            created_at
                .filter(|_| watched || new)
                .map(|c| (received_at - c).max(0) as f64 / 1000.0)
        };
        let observed = match stage {
            Stage::Running if !life.started() => {
                observe(life.seen_starting()).map(|seconds| (Histogram::Start(agent), seconds))
            }
            Stage::Final(which) if !life.ended() => {
                observe(life.seen_live()).map(|seconds| (Histogram::End(agent, which), seconds))
            }
            _ => None,
        };
        if let Some((histogram, seconds)) = observed {
            self.observations.push((histogram, seconds));
            let bucket = bucket_of(histogram.bounds(), seconds);
            let latest = self.latest.entry((histogram, bucket)).or_default();
            latest.seconds = seconds;
            latest.session_id.clear();
            latest.session_id.push_str(id);
        }
        life.listed(stage)
    }
}
