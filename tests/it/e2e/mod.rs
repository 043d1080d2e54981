//! End to end: the exporter with the real Prometheus and the shipped
//! files (README, Dashboard and Alerts).

mod prometheus;
mod support;
