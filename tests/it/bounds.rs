//! Whatever the API sends, the exposition stays valid and bounded: no two
//! samples share a name and label set, every family keeps within the
//! cardinality guard over any number of fetches, and no counter ever goes
//! down or disappears.

use crate::support::*;
use std::collections::BTreeMap;

fn session(id: Option<&str>, agent: &str, status: &str, created_at: &str) -> String {
    let id = id.map_or(String::new(), |id| format!(r#""session_id":"{id}","#));
    format!(r#"{{{id}"agent_name":"{agent}","status":"{status}","created_at":"{created_at}"}}"#)
}

/// The `agi_session_age_seconds` samples of an exposition.
fn ages(body: &str) -> Vec<Sample> {
    samples(body)
        .into_iter()
        .filter(|s| s.name == "agi_session_age_seconds")
        .collect()
}

async fn exporter_serving(sessions: &[String]) -> (FakeApi, Exporter) {
    let api = fake_api(Population::Empty).await;
    api.set_behaviour(Behaviour::json(format!("[{}]", sessions.join(","))));
    let exporter = Exporter::for_api(&api.url(), &["--sessions.top-oldest", "10"]).await;
    (api, exporter)
}

#[tokio::test]
async fn sessions_without_an_id_count_but_are_left_out_of_the_session_ages() {
    let (_api, exporter) = exporter_serving(&[
        session(None, "agi-0", "running", "2025-10-05T18:00:00Z"),
        session(None, "agi-0", "running", "2025-10-05T18:00:00Z"),
        session(Some("kept"), "agi-0", "running", "2025-10-05T19:00:00Z"),
    ])
    .await;
    let body = exporter.scrape().await;
    let ids: Vec<_> = ages(&body)
        .iter()
        .map(|s| s.label("session_id").unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["kept"], "{body}");
    assert_eq!(
        expect_value(&body, "agi_sessions", &[("status", "running")]),
        3.0
    );
}

#[tokio::test]
async fn an_id_listed_twice_gives_one_age_series_the_oldest() {
    let (_api, exporter) = exporter_serving(&[
        session(Some("twice"), "agi-0", "running", "2025-10-05T19:00:00Z"),
        session(Some("twice"), "agi-0", "running", "2025-10-05T18:00:00Z"),
        session(Some("twice"), "agi-1", "paused", "2025-10-05T20:00:00Z"),
    ])
    .await;
    let body = exporter.scrape().await;
    let found = ages(&body);
    assert_eq!(found.len(), 1, "{body}");
    assert_eq!(found[0].label("agent_name"), Some("agi-0"));
    assert_eq!(found[0].label("status"), Some("running"));
    let oldest = expect_value(
        &body,
        "agi_oldest_session_age_seconds",
        &[("status", "running")],
    );
    assert_eq!(found[0].value, oldest, "the oldest of the two: {body}");
}

#[tokio::test]
async fn ids_that_agree_in_their_first_128_bytes_give_one_age_series() {
    let prefix = "p".repeat(128);
    let (_api, exporter) = exporter_serving(&[
        session(
            Some(&format!("{prefix}-a")),
            "agi-0",
            "running",
            "2025-10-05T19:00:00Z",
        ),
        session(
            Some(&format!("{prefix}-b")),
            "agi-0",
            "running",
            "2025-10-05T18:00:00Z",
        ),
        session(Some("other"), "agi-0", "running", "2025-10-05T20:00:00Z"),
    ])
    .await;
    let body = exporter.scrape().await;
    let found = ages(&body);
    let ids: Vec<_> = found
        .iter()
        .map(|s| s.label("session_id").unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{body}");
    assert!(
        ids.contains(&prefix.as_str()) && ids.contains(&"other"),
        "{ids:?}"
    );
}

/// A small, repeatable random sequence (xorshift).
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

/// A list in which most statuses and agents have never been seen before,
/// with a few sessions that stay from fetch to fetch.
fn churning_list(fetch: usize, dice: &mut Dice) -> String {
    const KNOWN: [&str; 9] = KNOWN_STATUSES;
    let mut sessions = Vec::new();
    for i in 0..40 {
        let status = match dice.roll(3) {
            0 => KNOWN[dice.roll(9) as usize].to_owned(),
            _ => format!("status-{fetch}-{i}-{}", dice.roll(1000)),
        };
        let agent = match dice.roll(3) {
            0 => "agi-0".to_owned(),
            _ => format!("agent-{fetch}-{i}"),
        };
        let id = if i < 10 {
            format!("stays-{i}")
        } else {
            format!("s-{fetch}-{i}")
        };
        sessions.push(session(Some(&id), &agent, &status, "2025-10-05T18:00:00Z"));
    }
    format!("[{}]", sessions.join(","))
}

/// The most samples each name may have with `--agents.max 5` and
/// `--sessions.top-oldest 5`: 9 known statuses + 20 others + `other`,
/// 5 agents + `other`, 4 final statuses, 13 or 15 buckets + `+Inf`.
fn bound(family: &str) -> Option<usize> {
    const STATUSES: usize = 9 + 20 + 1;
    const AGENTS: usize = 5 + 1;
    const FINALS: usize = 4;
    Some(match family {
        "agi_sessions" | "agi_sessions_removed_total" => STATUSES,
        "agi_oldest_session_age_seconds" => STATUSES,
        "agi_agent_sessions" | "agi_agent_oldest_session_age_seconds" => AGENTS * STATUSES,
        "agi_session_transitions_total" => AGENTS * STATUSES,
        "agi_session_start_latency_seconds_count" | "agi_session_start_latency_seconds_sum" => {
            AGENTS
        }
        "agi_session_start_latency_seconds_bucket" => AGENTS * 14,
        "agi_session_duration_seconds_count" | "agi_session_duration_seconds_sum" => {
            AGENTS * FINALS
        }
        "agi_session_duration_seconds_bucket" => AGENTS * FINALS * 16,
        "agi_sessions_seen_total" => AGENTS,
        "agi_session_age_seconds" => 5,
        "agi_api_request_failures_total" => 8,
        "agi_invalid_session_fields_total" | "agi_label_values_truncated" => 3,
        _ => return None,
    })
}

#[tokio::test]
async fn every_family_stays_bounded_and_no_counter_goes_down_under_churn() {
    let api = fake_api(Population::Empty).await;
    let exporter = Exporter::for_api(&api.url(), &["--agents.max", "5"]).await;
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let mut counters: BTreeMap<(String, Vec<(String, String)>), f64> = BTreeMap::new();
    for fetch in 0..150 {
        api.set_behaviour(Behaviour::json(churning_list(fetch, &mut dice)));
        let body = exporter.scrape().await;
        assert_eq!(up(&body), 1.0, "{body}");
        let mut per_family: BTreeMap<String, usize> = BTreeMap::new();
        let kinds: BTreeMap<String, String> = body
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_once(' '))
            .map(|(n, k)| (n.to_owned(), k.to_owned()))
            .collect();
        let mut present = Vec::new();
        for sample in samples(&body) {
            *per_family.entry(sample.name.clone()).or_default() += 1;
            let family = sample
                .name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            let kind = kinds.get(&sample.name).or_else(|| kinds.get(family));
            if matches!(kind.map(String::as_str), Some("counter" | "histogram")) {
                let key = (sample.name.clone(), sample.labels.clone());
                if let Some(before) = counters.get(&key) {
                    assert!(
                        sample.value >= *before,
                        "fetch {fetch}: {key:?} went down from {before} to {}",
                        sample.value
                    );
                }
                counters.insert(key.clone(), sample.value);
                present.push(key);
            }
        }
        for key in counters.keys() {
            assert!(present.contains(key), "fetch {fetch}: {key:?} disappeared");
        }
        for (family, count) in per_family {
            if let Some(bound) = bound(&family) {
                assert!(
                    count <= bound,
                    "fetch {fetch}: {family} has {count} series, more than {bound}:\n{body}"
                );
            }
        }
    }
    let body = exporter.scrape().await;
    let transitions: Vec<Sample> = samples(&body)
        .into_iter()
        .filter(|s| s.name == "agi_session_transitions_total")
        .collect();
    let under_other: f64 = transitions
        .iter()
        .filter(|s| s.label("status") == Some("other"))
        .map(|s| s.value)
        .sum();
    assert!(
        under_other > 0.0,
        "later statuses are counted under other:\n{body}"
    );
    let agents: std::collections::BTreeSet<&str> = transitions
        .iter()
        .filter_map(|s| s.label("agent_name"))
        .collect();
    assert!(agents.contains("other") && agents.len() <= 6, "{agents:?}");
}
