//! The `agi_exporter` binary: parse flags, start logging, run, and turn the
//! result into an exit code (0 ok, 1 runtime failure or `--once` with
//! `agi_up 0`, 2 bad flags or configuration).

use std::process::ExitCode;

use agi_exporter::cli::Cli;
use agi_exporter::config::{Config, LogFormat, LogLevel};
use agi_exporter::{Outcome, RunError, run};
use clap::Parser;
use clap::error::ErrorKind;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => return usage_error(&first_line(&error.to_string())),
    };
    let config = match Config::from_cli(&cli, std::env::var("AGI_API_KEY").ok()) {
        Ok(config) => config,
        Err(error) => return usage_error(&error.to_string()),
    };
    init_logging(config.log_level, config.log_format);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("agi_exporter: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(Outcome::Stopped | Outcome::Once { up: true }) => ExitCode::SUCCESS,
        Ok(Outcome::Once { up: false }) => ExitCode::FAILURE,
        // A bad web config file is a configuration error like a bad flag.
        Err(error @ RunError::WebConfig(_)) => usage_error(&error.to_string()),
        Err(error) => {
            tracing::error!(%error, "exiting");
            eprintln!("agi_exporter: {error}");
            ExitCode::FAILURE
        }
    }
}

/// One line on stderr and exit code 2, as for any bad flag.
fn usage_error(message: &str) -> ExitCode {
    eprintln!("agi_exporter: {message} (see --help)");
    ExitCode::from(2)
}

/// clap's messages span several lines; the first says what is wrong.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message);
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

fn init_logging(level: LogLevel, format: LogFormat) {
    let filter = match level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    };
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .with_span_name(false)
                    .with_span_path(false)
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}
