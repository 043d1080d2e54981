//! What the lifecycle families count, from the exporter's start: sessions
//! entering each status per agent, sessions removed from the list, and the
//! two histograms (time to start, time to finish).
//!
//! The tracker adds to [`Totals`] under its sticky label ids after each
//! successful fetch, and turns them into a [`Lifecycle`] by label text for
//! the metrics to render. Both only grow: counters and histograms never go
//! down, and a label, once given, keeps its series.

use foldhash::{HashMap, HashMapExt};

use super::labels::{LabelId, StickyLabels};
use crate::status::StatusModel;

/// Upper bounds of `agi_session_start_latency_seconds`, in seconds: from a
/// 2-second start to an hour in a queue.
pub const START_LATENCY_BUCKETS: [f64; 11] = [
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// Upper bounds of `agi_session_duration_seconds`, in seconds: from a
/// 10-second task to a day.
pub const DURATION_BUCKETS: [f64; 12] = [
    10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
];

/// A histogram's counts: per bucket (not cumulative; the last counts what
/// is above every bound), the number of observations and their sum.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramCounts {
    per_bucket: Vec<u64>,
    /// Observations.
    pub count: u64,
    /// Sum of the observed values, in seconds.
    pub sum: f64,
}

impl HistogramCounts {
    fn new(bounds: &[f64]) -> Self {
        HistogramCounts {
            per_bucket: vec![0; bounds.len() + 1],
            count: 0,
            sum: 0.0,
        }
    }

    /// Adds one observation of `seconds`.
    pub(crate) fn observe(&mut self, bounds: &[f64], seconds: f64) {
        let bucket = bounds.partition_point(|&bound| bound < seconds);
        self.per_bucket[bucket] += 1;
        self.count += 1;
        self.sum += seconds;
    }

    fn add(&mut self, other: &HistogramCounts) {
        for (mine, theirs) in self.per_bucket.iter_mut().zip(&other.per_bucket) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum += other.sum;
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
}

/// The lifecycle families' values by label text, ready to render; every
/// list is sorted by its labels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lifecycle {
    /// `agi_session_transitions_total{agent_name, status}`.
    pub transitions: Vec<((String, String), u64)>,
    /// `agi_sessions_removed_total{status}`.
    pub removed: Vec<(String, u64)>,
    /// `agi_sessions_seen_total{agent_name}`.
    pub seen: Vec<(String, u64)>,
    /// `agi_session_start_latency_seconds{agent_name}`.
    pub start_latency: Vec<(String, HistogramCounts)>,
    /// `agi_session_duration_seconds{agent_name, status}`.
    pub duration: Vec<((String, String), HistogramCounts)>,
}

impl Lifecycle {
    /// Before the first successful fetch: no agent yet, and the statuses
    /// of the removal counter that are always there at 0.
    pub(crate) fn initial(statuses: &StatusModel) -> Self {
        Lifecycle {
            removed: statuses
                .fixed()
                .into_iter()
                .map(|s| (s.to_owned(), 0))
                .collect(),
            ..Lifecycle::default()
        }
    }
}

/// The counts by sticky label id, as the tracker keeps them.
#[derive(Debug, Clone)]
pub(crate) struct Totals {
    transitions: HashMap<(LabelId, LabelId), u64>,
    removed: HashMap<LabelId, u64>,
    seen: HashMap<LabelId, u64>,
    start_latency: HashMap<LabelId, HistogramCounts>,
    /// By agent and place in [`StatusModel::finals`].
    duration: HashMap<(LabelId, usize), HistogramCounts>,
    /// Which statuses are always there, and which are final.
    statuses: StatusModel,
}

impl Totals {
    /// The statuses always there of the removal counter at 0; `labels`
    /// are the status labels, whose fixed ones are `statuses.fixed()`.
    pub(crate) fn new(statuses: &StatusModel, labels: &StickyLabels) -> Self {
        let removed = (0..statuses.fixed().len())
            .map(|index| (labels.fixed(index), 0))
            .collect();
        Totals {
            transitions: HashMap::new(),
            removed,
            seen: HashMap::new(),
            start_latency: HashMap::new(),
            duration: HashMap::new(),
            statuses: statuses.clone(),
        }
    }

    /// Gives an agent its series, at 0, the first time it is seen: the
    /// statuses always there of the transitions counter, its new sessions,
    /// and both histograms, one per final status for durations (so that
    /// `increase()` sees the first event).
    pub(crate) fn agent(&mut self, agent: LabelId, statuses: &StickyLabels) {
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

    pub(crate) fn transition(&mut self, agent: LabelId, status: LabelId, n: u64) {
        *self.transitions.entry((agent, status)).or_insert(0) += n;
    }

    /// Adds `n` sessions of `agent` seen for the first time.
    pub(crate) fn seen(&mut self, agent: LabelId, n: u64) {
        *self.seen.entry(agent).or_insert(0) += n;
    }

    pub(crate) fn removal(&mut self, status: LabelId) {
        *self.removed.entry(status).or_insert(0) += 1;
    }

    pub(crate) fn start(&mut self, agent: LabelId, seconds: f64) {
        self.start_latency
            .entry(agent)
            .or_insert_with(|| HistogramCounts::new(&START_LATENCY_BUCKETS))
            .observe(&START_LATENCY_BUCKETS, seconds);
    }

    pub(crate) fn end(&mut self, agent: LabelId, status: usize, seconds: f64) {
        self.duration
            .entry((agent, status))
            .or_insert_with(|| HistogramCounts::new(&DURATION_BUCKETS))
            .observe(&DURATION_BUCKETS, seconds);
    }

    /// The totals by label text. Labels whose texts are equal (values that
    /// redact alike) are added up, so no two series share a label set.
    pub(crate) fn by_text(&self, agents: &StickyLabels, statuses: &StickyLabels) -> Lifecycle {
        let mut transitions: HashMap<(String, String), u64> = HashMap::new();
        for (&(agent, status), &n) in &self.transitions {
            let key = (
                agents.text(agent).to_owned(),
                statuses.text(status).to_owned(),
            );
            *transitions.entry(key).or_insert(0) += n;
        }
        let mut removed: HashMap<String, u64> = HashMap::new();
        for (&status, &n) in &self.removed {
            *removed.entry(statuses.text(status).to_owned()).or_insert(0) += n;
        }
        let mut seen: HashMap<String, u64> = HashMap::new();
        for (&agent, &n) in &self.seen {
            *seen.entry(agents.text(agent).to_owned()).or_insert(0) += n;
        }
        let mut start_latency: HashMap<String, HistogramCounts> = HashMap::new();
        for (&agent, counts) in &self.start_latency {
            start_latency
                .entry(agents.text(agent).to_owned())
                .or_insert_with(|| HistogramCounts::new(&START_LATENCY_BUCKETS))
                .add(counts);
        }
        let mut duration: HashMap<(String, String), HistogramCounts> = HashMap::new();
        for (&(agent, status), counts) in &self.duration {
            let key = (
                agents.text(agent).to_owned(),
                self.statuses.finals()[status].clone(),
            );
            duration
                .entry(key)
                .or_insert_with(|| HistogramCounts::new(&DURATION_BUCKETS))
                .add(counts);
        }
        Lifecycle {
            transitions: sorted(transitions),
            removed: sorted(removed),
            seen: sorted(seen),
            start_latency: sorted(start_latency),
            duration: sorted(duration),
        }
    }
}

/// The entries of `map`, sorted by key.
fn sorted<K: Ord, V>(map: HashMap<K, V>) -> Vec<(K, V)> {
    let mut list: Vec<(K, V)> = map.into_iter().collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_in_the_first_bucket_whose_bound_they_do_not_exceed() {
        let mut counts = HistogramCounts::new(&START_LATENCY_BUCKETS);
        for seconds in [0.0, 1.0, 1.5, 2.5, 4000.0] {
            counts.observe(&START_LATENCY_BUCKETS, seconds);
        }
        let cumulative: Vec<(f64, u64)> = counts.cumulative(&START_LATENCY_BUCKETS).collect();
        assert_eq!(cumulative[0], (1.0, 2), "0 and 1 are within le=1");
        assert_eq!(cumulative[1], (2.5, 4));
        assert_eq!(
            cumulative.last(),
            Some(&(3600.0, 4)),
            "4000 s is above every bound"
        );
        assert_eq!(counts.count, 5);
        assert!((counts.sum - 4005.0).abs() < 1e-9);
    }

    #[test]
    fn both_histograms_resolve_a_2_second_start_and_an_8_hour_run() {
        assert!(
            START_LATENCY_BUCKETS
                .windows(2)
                .any(|w| w[0] < 2.0 && 2.0 <= w[1])
        );
        let eight_hours = 8.0 * 3600.0;
        assert!(
            DURATION_BUCKETS
                .windows(2)
                .any(|w| w[0] < eight_hours && eight_hours <= w[1])
        );
    }
}
