//! The `agi_exporter` binary: parse flags, start logging, run, and turn the
//! result into an exit code (0 ok, 1 runtime failure or `--once` with
//! `agi_up 0`, 2 bad flags or configuration).

use std::process::ExitCode;

use agi_exporter::{Cli, Config, Outcome, RunError, log_subscriber, run};
use clap::Parser;
use clap::error::ErrorKind;

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
    // A key that is not UTF-8 is read lossily, so that the key check
    // refuses it by name rather than report it missing.
    let api_key = std::env::var_os("AGI_API_KEY").map(|key| key.to_string_lossy().into_owned());
    let config = match Config::from_cli(&cli, api_key) {
        Ok(config) => config,
        Err(error) => return usage_error(&error.to_string()),
    };
    let logs = log_subscriber(config.log_level, config.log_format, std::io::stderr);
    if tracing::subscriber::set_global_default(logs).is_err() {
        eprintln!("agi_exporter: cannot start logging");
        return ExitCode::FAILURE;
    }

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
