//! OpenMetrics and exemplars through the whole exporter (README, Metrics):
//! the format follows `Accept` as Prometheus weighs it, on `/metrics` and
//! `/probe`; the 0.0.4 text stays as it was; every OpenMetrics exposition
//! passes a strict reader; the lifecycle histograms' buckets and the
//! transitions carry the session behind them, redacted and cut.

use std::time::{SystemTime, UNIX_EPOCH};

use agi_exporter::format_timestamp;

use crate::support::*;

/// What Prometheus 2.42 sends by default.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn session(id: &str, status: &str, created_at: f64) -> String {
    let created = format_timestamp((created_at * 1000.0) as i64);
    format!(
        r#"{{"session_id":"{id}","agent_name":"agi-1","status":"{status}","created_at":"{created}"}}"#
    )
}

fn list(sessions: &[String]) -> Behaviour {
    Behaviour::json(format!("[{}]", sessions.join(",")))
}

async fn get(
    exporter: &impl Serving,
    path: &str,
    accept: Option<&str>,
    encoding: Option<&str>,
) -> Reply {
    let mut request = exporter.client().get(format!("{}{path}", exporter.url()));
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    if let Some(encoding) = encoding {
        request = request.header("Accept-Encoding", encoding);
    }
    let reply = exporter.send(request).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply
}

#[tokio::test]
async fn prometheus_gets_openmetrics_with_the_sessions_behind_its_histograms() {
    let api = fake_api_with_key(Population::Empty, "sk-om-7f3a9c2e5d").await;
    let created = now_seconds() - 90.0;
    // Ids: one long enough to be cut, one holding the key.
    let long = format!("long-{}", "x".repeat(300));
    let keyed = "s-sk-om-7f3a9c2e5d-2";
    api.set_behaviour(list(&[
        session("s-1", "ready", created),
        session(&long, "running", created),
        session(keyed, "running", created),
    ]));
    let exporter = Exporter::start(&["--api.url", &api.url()], Some(api.key())).await;
    get(&exporter, "/metrics", Some(PROMETHEUS_ACCEPT), None).await;
    api.set_behaviour(list(&[
        session("s-1", "running", created),
        session(&long, "finished", created),
        session(keyed, "error", created),
    ]));
    let reply = get(&exporter, "/metrics", Some(PROMETHEUS_ACCEPT), None).await;
    assert_eq!(reply.header("content-type"), Some(OPENMETRICS));
    let text = reply.text();
    assert_no_key_in(api.key(), "the OpenMetrics exposition", &text);
    let samples = parse_openmetrics(&text);
    let exemplar_of = |name: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(n, v)| s.label(n) == Some(v)))
            .find_map(|s| s.exemplar.clone())
            .unwrap_or_else(|| panic!("no exemplar on {name} {labels:?}:\n{text}"))
    };
    let id = |exemplar: &OmExemplar| exemplar.labels[0].1.clone();
    // The start seen: s-1 went ready -> running, about 90 s after creation.
    let start = exemplar_of("agi_session_start_latency_seconds_bucket", &[("le", "120")]);
    assert_eq!(id(&start), "s-1");
    assert!((85.0..100.0).contains(&start.value), "{start:?}");
    let at = start.timestamp.unwrap();
    assert!((now_seconds() - at).abs() < 30.0, "{start:?}");
    // The ends: cut to 118 characters, and redacted.
    let finished = exemplar_of(
        "agi_session_duration_seconds_bucket",
        &[("status", "finished"), ("le", "120")],
    );
    assert_eq!(id(&finished), long[..118]);
    let errored = exemplar_of(
        "agi_session_duration_seconds_bucket",
        &[("status", "error"), ("le", "120")],
    );
    assert!(
        !id(&errored).contains("7f3a9c2e5d") && id(&errored).starts_with("s-"),
        "{errored:?}"
    );
    // The transitions: the latest session that entered each status.
    let entered = exemplar_of("agi_session_transitions_total", &[("status", "running")]);
    assert_eq!((id(&entered).as_str(), entered.value), ("s-1", 1.0));
    // The lower buckets have no exemplar of an observation above them.
    assert!(
        samples
            .iter()
            .filter(
                |s| s.name == "agi_session_duration_seconds_bucket" && s.label("le") == Some("60")
            )
            .all(|s| s.exemplar.is_none()),
        "{text}"
    );

    // Without Accept, or preferring the text format: the 0.0.4 text, with
    // the same samples and no exemplar.
    for accept in [None, Some("text/plain;version=0.0.4;q=0.5,*/*;q=0.1")] {
        let reply = get(&exporter, "/metrics", accept, None).await;
        assert_eq!(reply.header("content-type"), Some(TEXT), "{accept:?}");
        let plain = reply.text();
        assert_valid_exposition(&plain);
        assert!(
            !plain.contains("# EOF") && !plain.contains("session_id=\"s-1\"} "),
            "{plain}"
        );
        promtool_check_metrics(&plain);
    }
}

#[tokio::test]
async fn any_accept_or_accept_encoding_gets_one_of_the_two_formats() {
    let api = fake_api(Population::Generated(50, Shape::Sdk)).await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    for (accept, expected) in [
        ("application/openmetrics-text", OPENMETRICS),
        ("APPLICATION/OPENMETRICS-TEXT; VERSION=1.0.0", OPENMETRICS),
        ("application/openmetrics-text;q=0, text/plain", TEXT),
        ("application/openmetrics-text;q=nan", TEXT),
        ("application/openmetrics-text;version=9", TEXT),
        ("image/png", TEXT),
        (";;;,,,=", TEXT),
        ("*/*;q=0", TEXT),
    ] {
        let reply = get(&exporter, "/metrics", Some(accept), None).await;
        assert_eq!(reply.header("content-type"), Some(expected), "{accept}");
        if expected == OPENMETRICS {
            parse_openmetrics(&reply.text());
        } else {
            assert_valid_exposition(&reply.text());
        }
    }
    for (encoding, gzip) in [
        ("gzip", true),
        ("GZIP;q=0.5", true),
        ("*", true),
        ("gzip;q=0, *", false),
        ("*, gzip;q=0", false),
        ("gzip;Q=0", false),
        ("gzip;q=nan", false),
        ("identity", false),
    ] {
        let reply = get(
            &exporter,
            "/metrics",
            Some(PROMETHEUS_ACCEPT),
            Some(encoding),
        )
        .await;
        assert_eq!(
            reply.header("content-encoding") == Some("gzip"),
            gzip,
            "{encoding}"
        );
        assert!(
            reply
                .header("vary")
                .is_some_and(|v| v.contains("Accept-Encoding")),
            "{encoding}"
        );
        if !gzip {
            parse_openmetrics(&reply.text());
        }
    }
}

#[tokio::test]
async fn a_probe_negotiates_as_metrics_does() {
    let api = fake_api_with_key(Population::Generated(20, Shape::Docs), "sk-probe-om-1c4e").await;
    let dir = TempDir::new("om-probe");
    let key = dir.write("prod.key", "sk-probe-om-1c4e\n");
    let config = dir.write(
        "accounts.yml",
        &format!(
            "accounts:\n  prod:\n    url: {}\n    key_file: {}\n",
            api.url(),
            key.display()
        ),
    );
    let config = config.display().to_string();
    let exporter = Exporter::start(&["--config.file", &config], None).await;
    let reply = get(
        &exporter,
        "/probe?account=prod",
        Some(PROMETHEUS_ACCEPT),
        None,
    )
    .await;
    assert_eq!(reply.header("content-type"), Some(OPENMETRICS));
    let samples = parse_openmetrics(&reply.text());
    assert!(samples.iter().any(|s| s.name == "agi_up" && s.value == 1.0));
    assert!(samples.iter().all(|s| !s.name.starts_with("process_")));
    let own = get(&exporter, "/metrics", Some(PROMETHEUS_ACCEPT), None).await;
    let own = parse_openmetrics(&own.text());
    assert!(
        own.iter()
            .any(|s| s.name == "agi_exporter_build_info" && s.value == 1.0)
    );
    let cpu = own
        .iter()
        .find(|s| s.name == "process_cpu_seconds_total")
        .expect("process CPU");
    assert!(
        cpu.value > 0.0 && cpu.value.fract() != 0.0,
        "fractional CPU seconds: {cpu:?}"
    );
}
