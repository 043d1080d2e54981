//! What the lifecycle families count, from the exporter's start: sessions
//! entering each status per agent, new sessions, sessions removed from the
//! list, and the two histograms (time to start, time to finish).
//!
//! A fetch counts under sticky label ids into a [`LifecycleDelta`], which
//! the [`LifecycleState`] adds once the fetch is known to have succeeded; a
//! fetch given up adds nothing. The state only grows: counters and
//! histograms never go down, and a label, once given, keeps its series.
//! [`LifecycleState::by_text`] is what the metrics render.

use foldhash::{HashMap, HashMapExt};

use super::labels::{LabelId, MAX_UNDOCUMENTED_STATUSES, NewLabels, StickyLabels};
use crate::api::timestamp::UnixMillis;
use crate::exposition::Exemplar;
use crate::status::StatusModel;

/// Upper bounds of `agi_session_start_latency_seconds`, in seconds: from a
/// 1-second start to an hour in a queue, no bound more than twice the one
/// before, so that `histogram_quantile` is never off by more than the
/// value itself; 60 s, the start objective, is a bound.
pub const START_LATENCY_BUCKETS: [f64; 13] = [
    1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 240.0, 480.0, 900.0, 1800.0, 3600.0,
];

/// Upper bounds of `agi_session_duration_seconds`, in seconds: from a
/// 2-second task to 8 hours, no bound more than twice the one before.
pub const DURATION_BUCKETS: [f64; 15] = [
    2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 240.0, 480.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
    28800.0,
];

/// Which histogram an observation is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Histogram {
    /// `agi_session_start_latency_seconds` of an agent.
    Start(LabelId),
    /// `agi_session_duration_seconds` of an agent and a place in
    /// [`StatusModel::finals`].
    End(LabelId, usize),
}

impl Histogram {
    /// Its upper bounds.
    pub(crate) fn bounds(self) -> &'static [f64] {
        match self {
            Histogram::Start(_) => &START_LATENCY_BUCKETS,
            Histogram::End(..) => &DURATION_BUCKETS,
        }
    }
}

/// The bucket of `bounds` an observation of `seconds` falls in; the last
/// is above every bound.
pub(crate) fn bucket_of(bounds: &[f64], seconds: f64) -> usize {
    bounds.partition_point(|&bound| bound < seconds)
}

/// The latest observation a fetch made in a bucket: its value, and the
/// session's id (as listed while the fetch runs, a label once it ends).
#[derive(Debug, Clone, Default)]
pub(crate) struct Latest {
    pub(crate) seconds: f64,
    pub(crate) session_id: String,
}

/// A histogram's counts: per bucket (not cumulative; the last counts what
/// is above every bound), the number of observations and their sum, and
/// the latest observation of each bucket.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramCounts {
    per_bucket: Vec<u64>,
    latest: Vec<Option<Exemplar>>,
    /// Observations.
    pub count: u64,
    /// Sum of the observed values, in seconds.
    pub sum: f64,
}

impl HistogramCounts {
    /// No observation yet, in buckets of `bounds`.
    pub(crate) fn new(bounds: &[f64]) -> Self {
        HistogramCounts {
            per_bucket: vec![0; bounds.len() + 1],
            latest: vec![None; bounds.len() + 1],
            count: 0,
            sum: 0.0,
        }
    }

    /// Adds one observation of `seconds`.
    pub(crate) fn observe(&mut self, bounds: &[f64], seconds: f64) {
        self.per_bucket[bucket_of(bounds, seconds)] += 1;
        self.count += 1;
        self.sum += seconds;
    }

    /// Makes `latest` the latest observation of bucket `bucket`.
    fn set_latest(&mut self, bucket: usize, latest: Exemplar) {
        if let Some(slot) = self.latest.get_mut(bucket) {
            *slot = Some(latest);
        }
    }

    /// Cumulative counts per bound of `bounds` (`le`), without `+Inf`
    /// (which is [`Self::count`]).
    pub fn cumulative<'b>(&self, bounds: &'b [f64]) -> impl Iterator<Item = (f64, u64)> + 'b {
        let mut running = 0;
        let per_bucket = self.per_bucket.clone();
        bounds.iter().zip(per_bucket).map(move |(&bound, n)| {
            running += n;
            (bound, running)
        })
    }

    /// Each bound of `bounds`, its cumulative count, and the latest
    /// observation that fell in its bucket.
    pub(crate) fn buckets<'s>(
        &'s self,
        bounds: &'s [f64],
    ) -> impl Iterator<Item = (f64, u64, Option<&'s Exemplar>)> + 's {
        (self.cumulative(bounds).zip(&self.latest))
            .map(|((bound, n), latest)| (bound, n, latest.as_ref()))
    }

    /// The latest observation above every bound of `bounds`.
    pub(crate) fn above(&self, bounds: &[f64]) -> Option<&Exemplar> {
        self.latest.get(bounds.len())?.as_ref()
    }
}

/// The lifecycle families' values by label text, ready to render; every
/// list is sorted by its labels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lifecycle {
    /// `agi_session_transitions_total{agent_name, status}`.
    pub transitions: Vec<((String, String), u64)>,
    /// The latest session that entered each of `transitions`, in its order.
    pub(crate) entered_last: Vec<Option<Exemplar>>,
    /// `agi_sessions_removed_total{status}`.
    pub removed: Vec<(String, u64)>,
    /// `agi_sessions_seen_total{agent_name}`.
    pub seen: Vec<(String, u64)>,
    /// `agi_session_start_latency_seconds{agent_name}`.
    pub start_latency: Vec<(String, HistogramCounts)>,
    /// `agi_session_duration_seconds{agent_name, status}`.
    pub duration: Vec<((String, String), HistogramCounts)>,
}

/// What the lifecycle families count, kept for the life of the process:
/// the labels given out and the totals under them. A fetch adds to it only
/// once it is known to have succeeded, through its [`LifecycleDelta`].
#[derive(Debug)]
pub(crate) struct LifecycleState {
    /// The status labels: the statuses always there, then the first 20
    /// others seen.
    pub(crate) statuses: StickyLabels,
    /// The agent labels: the first `--agents.max` seen.
    pub(crate) agents: StickyLabels,
    totals: Totals,
}

/// What one fetch adds to the [`LifecycleState`]: the labels it gives out
/// and its counts under label ids. Applied on commit; dropped with a fetch
/// given up.
#[derive(Debug, Default)]
pub(crate) struct LifecycleDelta {
    pub(crate) statuses: NewLabels,
    pub(crate) agents: NewLabels,
    /// The agents listed, whose series exist from now on (at 0).
    pub(crate) agents_listed: Vec<LabelId>,
    pub(crate) transitions: HashMap<(LabelId, LabelId), u64>,
    /// The last session that entered each, its id a label.
    pub(crate) entered_last: HashMap<(LabelId, LabelId), String>,
    pub(crate) seen: HashMap<LabelId, u64>,
    pub(crate) removed: HashMap<LabelId, u64>,
    /// The observations of both histograms, in seconds.
    pub(crate) observations: Vec<(Histogram, f64)>,
    /// The latest observation of each bucket the fetch observed in, its
    /// id a label.
    pub(crate) latest: Vec<((Histogram, usize), Latest)>,
    /// When the fetch was answered: the time of its exemplars.
    pub(crate) at: UnixMillis,
}

impl LifecycleState {
    /// Nothing counted yet: the statuses always there, and agents up to
    /// `agents_max`.
    pub(crate) fn new(statuses: &StatusModel, agents_max: usize) -> Self {
        let labels = StickyLabels::new(&statuses.fixed(), MAX_UNDOCUMENTED_STATUSES);
        LifecycleState {
            totals: Totals::new(statuses, &labels),
            statuses: labels,
            agents: StickyLabels::new(&[], agents_max),
        }
    }

    /// Adds a fetch's counts, and the labels it gave out.
    pub(crate) fn apply(&mut self, delta: LifecycleDelta) {
        let LifecycleDelta {
            statuses,
            agents,
            agents_listed,
            transitions,
            entered_last,
            seen,
            removed,
            observations,
            latest,
            at,
        } = delta;
        self.statuses.apply(statuses);
        self.agents.apply(agents);
        let totals = &mut self.totals;
        for agent in agents_listed {
            totals.agent(agent, &self.statuses);
        }
        for ((agent, status), n) in transitions {
            *totals.transitions.entry((agent, status)).or_insert(0) += n;
        }
        for (series, session_id) in entered_last {
            totals.entered_last.insert(
                series,
                Exemplar {
                    session_id,
                    value: 1.0,
                    at,
                },
            );
        }
        for (agent, n) in seen {
            *totals.seen.entry(agent).or_insert(0) += n;
        }
        for (status, n) in removed {
            *totals.removed.entry(status).or_insert(0) += n;
        }
        for (histogram, seconds) in observations {
            totals
                .histogram(histogram)
                .observe(histogram.bounds(), seconds);
        }
        for (
            (histogram, bucket),
            Latest {
                seconds,
                session_id,
            },
        ) in latest
        {
            let exemplar = Exemplar {
                session_id,
                value: seconds,
                at,
            };
            totals.histogram(histogram).set_latest(bucket, exemplar);
        }
    }

    /// The totals by label text.
    pub(crate) fn by_text(&self) -> Lifecycle {
        let (agents, statuses) = (self.agents.texts(), self.statuses.texts());
        let text = |labels: &[String], id: LabelId| labels[id as usize].clone();
        let totals = &self.totals;
        let finals = totals.statuses.finals();
        let mut transitions: Vec<((String, String), u64, Option<&Exemplar>)> =
            (totals.transitions.iter())
                .map(|(&(agent, status), &n)| {
                    let latest = totals.entered_last.get(&(agent, status));
                    ((text(agents, agent), text(statuses, status)), n, latest)
                })
                .collect();
        transitions.sort_by(|a, b| a.0.cmp(&b.0));
        Lifecycle {
            entered_last: transitions
                .iter()
                .map(|(_, _, latest)| latest.cloned())
                .collect(),
            transitions: transitions
                .into_iter()
                .map(|(series, n, _)| (series, n))
                .collect(),
            removed: sorted(
                totals
                    .removed
                    .iter()
                    .map(|(&status, &n)| (text(statuses, status), n)),
            ),
            seen: sorted(
                totals
                    .seen
                    .iter()
                    .map(|(&agent, &n)| (text(agents, agent), n)),
            ),
            start_latency: sorted(
                (totals.start_latency.iter())
                    .map(|(&agent, counts)| (text(agents, agent), counts.clone())),
            ),
            duration: sorted(totals.duration.iter().map(|(&(agent, status), counts)| {
                (
                    (text(agents, agent), finals[status].clone()),
                    counts.clone(),
                )
            })),
        }
    }
}

/// The counts by sticky label id. Distinct ids have distinct texts, so
/// each is a series of its own.
#[derive(Debug)]
struct Totals {
    transitions: HashMap<(LabelId, LabelId), u64>,
    entered_last: HashMap<(LabelId, LabelId), Exemplar>,
    removed: HashMap<LabelId, u64>,
    seen: HashMap<LabelId, u64>,
    start_latency: HashMap<LabelId, HistogramCounts>,
    /// By agent and place in [`StatusModel::finals`].
    duration: HashMap<(LabelId, usize), HistogramCounts>,
    /// Which statuses are always there, and which are final.
    statuses: StatusModel,
}

impl Totals {
    /// The counts of `histogram`, none yet if it had none.
    fn histogram(&mut self, histogram: Histogram) -> &mut HistogramCounts {
        match histogram {
            Histogram::Start(agent) => (self.start_latency.entry(agent))
                .or_insert_with(|| HistogramCounts::new(&START_LATENCY_BUCKETS)),
            Histogram::End(agent, status) => (self.duration.entry((agent, status)))
                .or_insert_with(|| HistogramCounts::new(&DURATION_BUCKETS)),
        }
    }

    /// The statuses always there of the removal counter at 0; `labels`
    /// are the status labels, whose fixed ones are `statuses.fixed()`.
    fn new(statuses: &StatusModel, labels: &StickyLabels) -> Self {
        let removed = (0..statuses.fixed().len())
            .map(|index| (labels.fixed(index), 0))
            .collect();
        Totals {
            transitions: HashMap::new(),
            entered_last: HashMap::new(),
            removed,
            seen: HashMap::new(),
            start_latency: HashMap::new(),
            duration: HashMap::new(),
            statuses: statuses.clone(),
        }
    }

    /// Gives an agent its series, at 0, the first time it is listed: the
    /// statuses always there of the transitions counter, its new sessions,
    /// and both histograms, one per final status for durations (so that
    /// `increase()` sees the first event).
    fn agent(&mut self, agent: LabelId, statuses: &StickyLabels) {
        // An agent has series once it has a start-latency histogram: this
        // gives them all at once, before any observation.
        if self.start_latency.contains_key(&agent) {
            return;
        }
        for index in 0..self.statuses.fixed().len() {
            self.transitions
                .entry((agent, statuses.fixed(index)))
                .or_insert(0);
        }
        self.seen.entry(agent).or_insert(0);
        self.start_latency
            .entry(agent)
            .or_insert_with(|| HistogramCounts::new(&START_LATENCY_BUCKETS));
        for index in 0..self.statuses.finals().len() {
            self.duration
                .entry((agent, index))
                .or_insert_with(|| HistogramCounts::new(&DURATION_BUCKETS));
        }
    }
}

fn sorted<K: Ord, V>(items: impl Iterator<Item = (K, V)>) -> Vec<(K, V)> {
    let mut list: Vec<(K, V)> = items.collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_in_the_first_bucket_whose_bound_they_do_not_exceed() {
        let mut counts = HistogramCounts::new(&START_LATENCY_BUCKETS);
        for seconds in [0.0, 1.0, 1.5, 2.0, 4000.0] {
            counts.observe(&START_LATENCY_BUCKETS, seconds);
        }
        let cumulative: Vec<(f64, u64)> = counts.cumulative(&START_LATENCY_BUCKETS).collect();
        assert_eq!(cumulative[0], (1.0, 2), "0 and 1 are within le=1");
        assert_eq!(cumulative[1], (2.0, 4));
        assert_eq!(
            cumulative.last(),
            Some(&(3600.0, 4)),
            "4000 s is above every bound"
        );
        assert_eq!(counts.count, 5);
        assert!((counts.sum - 4004.5).abs() < 1e-9);
    }

    #[test]
    fn buckets_cover_what_users_need_at_most_twice_apart() {
        let covers = |bounds: &[f64], low: f64, high: f64| {
            bounds.first() <= Some(&low)
                && bounds.last() >= Some(&high)
                && bounds.windows(2).all(|w| w[1] <= 2.0 * w[0])
        };
        assert!(covers(&START_LATENCY_BUCKETS, 1.0, 3600.0));
        assert!(covers(&DURATION_BUCKETS, 2.0, 8.0 * 3600.0));
        // The start objective is a bound, so its share is exact.
        assert!(START_LATENCY_BUCKETS.contains(&60.0));
    }
}
