//! End to end: the exporter with the real Prometheus, Alertmanager and
//! VictoriaMetrics, and the shipped files (README, Dashboard and Alerts).

mod alertmanager;
mod prometheus;
mod support;
mod victoria_metrics;
