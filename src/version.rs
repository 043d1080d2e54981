//! What this build is: the version, git revision and compiler, as
//! `--version` and `agi_exporter_build_info` show them.

/// The crate version.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git revision it was built from, or `unknown`.
pub(crate) const REVISION: &str = env!("AGI_EXPORTER_REVISION");

/// The version of rustc that built it.
pub(crate) const RUSTC_VERSION: &str = env!("AGI_EXPORTER_RUSTC_VERSION");
