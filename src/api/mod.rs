//! The AGI API: the HTTP client that fetches the session list, and the
//! tolerant parser that reads it.
//!
//! The exporter is strictly read-only: the only request it ever sends is
//! `GET {api.url}/v1/sessions`.

mod client;
mod json;
pub mod key;
pub mod parse;
pub mod redact;
pub mod timestamp;

pub use client::{ApiClient, ClientError, FailureReason, FetchError, InvalidBody};
