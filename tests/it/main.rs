//! The integration tests, one crate: each module is one subject, and
//! `support` is the harness they share (README, Development).

// A test fails by panicking, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod bounds;
mod chunking;
mod cli;
mod coalescing;
mod deadlines;
mod demo;
mod e2e;
mod exposition;
mod failures;
mod garbage;
mod garbage_upstream;
mod http;
mod key_rotation;
mod leaks;
mod lifecycle;
mod openmetrics;
mod proxy;
mod rate_limit;
mod recall;
mod redirects;
mod secrets;
mod server_limits;
mod signals;
mod size_cap;
mod soak;
mod streaming;
mod support;
mod web_config;
