//! End to end: the exporter with the real Prometheus, Alertmanager and
//! VictoriaMetrics, and the shipped files (docs/dashboard.md, docs/alerts.md).

mod accounts;
mod alertmanager;
mod exemplars;
mod prometheus;
mod support;
mod victoria_metrics;
