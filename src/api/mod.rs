//! The AGI API: the HTTP client that fetches the session list, and the
//! tolerant parser that reads it.
//!
//! The exporter is strictly read-only: the only request it ever sends is
//! `GET {api.url}/v1/sessions`.

mod client;
pub(crate) mod inflate;
mod json;
pub(crate) mod key;
pub(crate) mod keyring;
mod layout;
pub(crate) mod parse;
pub(crate) mod redact;
pub(crate) mod timestamp;

pub use client::ClientError;
pub(crate) use client::{
    Answer, ApiClient, FailureReason, FetchError, encoding_error, http_client,
};
