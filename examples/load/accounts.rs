//! Many accounts in one exporter (`--accounts N`, issue 29 point 10).
//!
//! For each shape and size it starts N simulated APIs (each its own
//! generated population of that size, its own seed, its own port on
//! 127.0.0.1), writes a key file for each and a config file naming them
//! all (`account-000`, `account-001`, ...) in a directory of its own under
//! the temporary directory, and starts:
//!
//! - the *many-accounts* exporter, `--config.file` naming all N;
//! - the *one-account* exporter, the same binary with a config file naming
//!   `account-000` only: the threads and RSS the many-accounts one is held
//!   against;
//! - an *alone* exporter for each of [`REFERENCES`] accounts spread over
//!   the N (`account-000`, and every tenth with 100), in single-account
//!   mode (no config file; `--api.url` that account's simulator,
//!   `AGI_API_KEY` its key): the same account scraped alone, at
//!   `/metrics`.
//!
//! Then it probes every account of the many-accounts exporter once per
//! [`INTERVAL`], as a Prometheus with N targets does, for `--rounds`
//! rounds, and scrapes each alone exporter once per interval too, next to
//! the probe of its account (before it in one round, after it in the next).
//! Every request has a slot of its own, the slots spread evenly over the
//! interval, so that every request, probe or alone scrape, comes after the
//! same pause, to a process that last fetched that account an interval
//! ago: a request to a process that has just answered another is several
//! times faster on a busy machine than one after a pause, and a comparison
//! at another cadence measures that instead. The one-account exporter's
//! account is probed once a round, untimed. Every probe and scrape must
//! answer `agi_up 1`.
//!
//! It reports, for the many-accounts exporter: idle RSS (`VmRSS` before any
//! probe), RSS after the rounds (`VmRSS`), peak RSS (`VmHWM`), threads
//! after the rounds against the one-account exporter's, the median probe of
//! the reference accounts against the median scrape of the same accounts
//! alone, the median of all the probes against the same, the median first
//! probe of an account (its first fetch reads every session), CPU per probe
//! (`/proc/PID/stat`; an alone exporter answers too few scrapes for its
//! 10 ms ticks), and memory per account at rest: (RSS after with N
//! accounts - RSS after with one) / (N - 1), and the same before any probe.
//! Then the bars and whether each is met.
//!
//! The simulator accepts one key, so every key file holds the same key:
//! the exporter's keyring then redacts one key, not N.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use agi_exporter::demo::{Shape, SimOptions, Simulator};

use crate::Args;
use crate::exporter::{Exporter, TICK, new_client, scrape, start_simulator};

/// How often each account is probed: a common scrape interval.
pub const INTERVAL: Duration = Duration::from_secs(15);
/// How many accounts are also scraped alone, each by an exporter of its
/// own.
const REFERENCES: usize = 10;
/// Bar: peak RSS of the many-accounts exporter.
const PEAK_RSS_BAR_MIB: f64 = 64.0;
/// Bar: a probe against the same account scraped alone.
const PROBE_RATIO_BAR: f64 = 1.5;

/// What `--accounts` asks for.
#[derive(Debug)]
pub struct Settings {
    /// Accounts in the many-accounts exporter.
    pub accounts: usize,
    /// Times each account is probed, [`INTERVAL`] apart.
    pub rounds: usize,
}

/// One build's, shape's and size's results.
#[derive(Debug)]
struct Row {
    /// The binary's file name.
    build: String,
    shape: Shape,
    sessions: usize,
    /// Of the many-accounts exporter.
    idle_rss_kib: u64,
    after_rss_kib: u64,
    peak_rss_kib: u64,
    threads: u64,
    /// Of the one-account exporter.
    one_idle_rss_kib: u64,
    one_after_rss_kib: u64,
    one_threads: u64,
    /// Medians: probes of the reference accounts, and scrapes of the same
    /// accounts alone.
    reference_probes: Duration,
    alone: Duration,
    /// Every probe of every account: the median and p90.
    all_probes: (Duration, Duration),
    /// The first probe of every account: the median.
    first_probes: Duration,
    /// CPU time of the many-accounts exporter over the rounds, per probe.
    cpu_per_probe: Duration,
}

impl Row {
    fn reference_ratio(&self) -> f64 {
        self.reference_probes.as_secs_f64() / self.alone.as_secs_f64()
    }

    fn all_ratio(&self) -> f64 {
        self.all_probes.0.as_secs_f64() / self.alone.as_secs_f64()
    }

    fn peak_rss_mib(&self) -> f64 {
        self.peak_rss_kib as f64 / 1024.0
    }
}

/// One request of a round, in its own slot.
#[derive(Debug, Clone, Copy)]
enum Request {
    /// `/probe?account=` of the many-accounts exporter.
    Probe(usize),
    /// `/metrics` of the alone exporter of this reference account.
    Alone(usize),
}

/// Measures every build, shape and size, and prints the tables.
pub fn run(runtime: &tokio::runtime::Runtime, args: &Args, settings: &Settings) -> ExitCode {
    let mut rows = Vec::new();
    for &shape in &args.shapes {
        for &n in &args.sessions {
            for binary in &args.exporters {
                let build = binary
                    .file_name()
                    .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
                let what = format!(
                    "{} accounts of {n} sessions, {shape} shape, {build}",
                    settings.accounts
                );
                eprintln!(
                    "load: {what}: {} rounds of {} s...",
                    settings.rounds,
                    INTERVAL.as_secs()
                );
                match runtime.block_on(measure(settings, binary, shape, n)) {
                    Ok(row) => rows.push(Row { build, ..row }),
                    Err(message) => {
                        eprintln!("load: {what}: {message}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        }
    }
    print_tables(settings, &rows);
    ExitCode::SUCCESS
}

async fn measure(
    settings: &Settings,
    binary: &Path,
    shape: Shape,
    n: usize,
) -> Result<Row, String> {
    let accounts = settings.accounts;
    let mut simulators = Vec::with_capacity(accounts);
    for seed in 0..accounts {
        // Each its own sessions, as different accounts list different ones.
        let options = SimOptions {
            seed: 42 + seed as u64,
            ..SimOptions::generated(n, shape)
        };
        simulators.push(start_simulator(options).await?);
    }
    let names: Vec<String> = (0..accounts).map(account_name).collect();
    let dir = ConfigDir::create()?;
    let all = dir.write_config("accounts.yml", &names, &simulators)?;
    let one = dir.write_config("one.yml", &names[..1], &simulators[..1])?;

    let many = with_config(binary, &all)?;
    let single = with_config(binary, &one)?;
    let references = reference_accounts(accounts);
    let alone = references
        .iter()
        .map(|&i| {
            let simulator = &simulators[i];
            Exporter::start(
                binary,
                &["--api.url", &simulator.url()],
                &[("AGI_API_KEY", simulator.key())],
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Let them settle, as the single-account measurement does.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_rss_kib = many.status_kib("VmRSS")?;
    let one_idle_rss_kib = single.status_kib("VmRSS")?;

    let client = new_client()?;
    let probe_url = |exporter: &Exporter, i: usize| {
        format!("http://{}/probe?account={}", exporter.address, names[i])
    };
    let mut first_probes = Vec::with_capacity(accounts);
    let mut all_probes = Vec::with_capacity(accounts * settings.rounds);
    let mut reference_probes = Vec::with_capacity(references.len() * settings.rounds);
    let mut alone_scrapes = Vec::with_capacity(references.len() * settings.rounds);
    let many_ticks = many.cpu_ticks()?;
    let mut next = tokio::time::Instant::now();
    for round in 0..settings.rounds {
        let requests = round_requests(accounts, &references, round);
        let slot = INTERVAL / u32::try_from(requests.len()).map_err(|e| e.to_string())?;
        for request in requests {
            // A request late for its slot (the machine was busy) goes at
            // once, and the next ones keep their own slots.
            tokio::time::sleep_until(next).await;
            next += slot;
            match request {
                Request::Probe(i) => {
                    let took = timed(&client, &probe_url(&many, i)).await?;
                    all_probes.push(took);
                    if round == 0 {
                        first_probes.push(took);
                    }
                    if references.contains(&i) {
                        reference_probes.push(took);
                    }
                    if i == 0 {
                        scrape(&client, &probe_url(&single, 0)).await?;
                    }
                }
                Request::Alone(i) => {
                    let exporter = references
                        .iter()
                        .position(|&r| r == i)
                        .and_then(|at| alone.get(at))
                        .ok_or("an alone scrape of an account without its exporter")?;
                    alone_scrapes.push(timed(&client, &exporter.metrics_url()).await?);
                }
            }
        }
    }
    tokio::time::sleep_until(next).await;
    let cpu_per_probe = ticks_per(many.cpu_ticks()? - many_ticks, all_probes.len());

    Ok(Row {
        build: String::new(),
        shape,
        sessions: n,
        idle_rss_kib,
        after_rss_kib: many.status_kib("VmRSS")?,
        peak_rss_kib: many.status_kib("VmHWM")?,
        threads: many.threads()?,
        one_idle_rss_kib,
        one_after_rss_kib: single.status_kib("VmRSS")?,
        one_threads: single.threads()?,
        reference_probes: quantile(&mut reference_probes, 50),
        alone: quantile(&mut alone_scrapes, 50),
        all_probes: (quantile(&mut all_probes, 50), quantile(&mut all_probes, 90)),
        first_probes: quantile(&mut first_probes, 50),
        cpu_per_probe,
    })
}

/// The accounts also scraped alone: [`REFERENCES`] of them, spread evenly
/// (every tenth of 100), `account-000` first.
fn reference_accounts(accounts: usize) -> Vec<usize> {
    let step = (accounts / REFERENCES).max(1);
    (0..accounts).step_by(step).take(REFERENCES).collect()
}

/// A round's requests in order: every account's probe, and next to each
/// reference account's, its alone scrape, after it in even rounds and
/// before it in odd ones (so that neither always follows the other).
fn round_requests(accounts: usize, references: &[usize], round: usize) -> Vec<Request> {
    let mut requests = Vec::with_capacity(accounts + references.len());
    let alone_after = round.is_multiple_of(2);
    for i in 0..accounts {
        let reference = references.contains(&i);
        if reference && !alone_after {
            requests.push(Request::Alone(i));
        }
        requests.push(Request::Probe(i));
        if reference && alone_after {
            requests.push(Request::Alone(i));
        }
    }
    requests
}

/// `binary` with `--config.file config`, and its defaults otherwise.
fn with_config(binary: &Path, config: &Path) -> Result<Exporter, String> {
    let config = config
        .to_str()
        .ok_or("the temporary directory is not UTF-8")?;
    Exporter::start(binary, &["--config.file", config], &[])
}

/// One scrape or probe, timed.
async fn timed(client: &reqwest::Client, url: &str) -> Result<Duration, String> {
    let started = Instant::now();
    scrape(client, url).await?;
    Ok(started.elapsed())
}

/// CPU time per request, from clock ticks.
fn ticks_per(ticks: u64, requests: usize) -> Duration {
    TICK * u32::try_from(ticks).unwrap_or(u32::MAX) / u32::try_from(requests.max(1)).unwrap_or(1)
}

/// The `percent`th percentile of `times` (sorted in place).
fn quantile(times: &mut [Duration], percent: usize) -> Duration {
    times.sort_unstable();
    let at = (times.len() * percent).div_ceil(100).max(1) - 1;
    times.get(at).copied().unwrap_or_default()
}

/// KiB an account adds, from RSS readings with `accounts` accounts and
/// with one.
fn per_account_kib(many: u64, one: u64, accounts: usize) -> Option<f64> {
    (accounts > 1).then(|| (many as f64 - one as f64) / (accounts - 1) as f64)
}

/// The name of the `i`th account in the config file.
fn account_name(i: usize) -> String {
    format!("account-{i:03}")
}

/// The config files and key files, in a directory of their own under the
/// temporary directory; removed when dropped.
struct ConfigDir {
    path: PathBuf,
}

impl ConfigDir {
    fn create() -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("agi-load-{}", std::process::id()));
        // Left over from an earlier run that failed, with the same pid.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(ConfigDir { path })
    }

    /// Writes a key file for each account and the config file `file`
    /// naming them, each with its simulator's URL; returns its path.
    fn write_config(
        &self,
        file: &str,
        names: &[String],
        simulators: &[Simulator],
    ) -> Result<PathBuf, String> {
        let mut text = String::from("accounts:\n");
        for (name, simulator) in names.iter().zip(simulators) {
            let key_file = self.write(&format!("{name}.key"), &format!("{}\n", simulator.key()))?;
            text.push_str(&format!(
                "  {name}:\n    url: {}\n    key_file: {}\n",
                simulator.url(),
                key_file.display()
            ));
        }
        self.write(file, &text)
    }

    fn write(&self, name: &str, contents: &str) -> Result<PathBuf, String> {
        let path = self.path.join(name);
        std::fs::write(&path, contents).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn print_tables(settings: &Settings, rows: &[Row]) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let n = settings.accounts;
    let references = reference_accounts(n).len();
    let per_account =
        |kib: Option<f64>| kib.map_or_else(|| "n/a".to_owned(), |kib| format!("{kib:.0} KiB"));
    println!(
        "| build | shape | accounts × sessions | idle RSS | RSS after the rounds | peak RSS | RSS after, 1 account | per account at rest (idle) | threads: {n} accounts, 1 account | probe of the {references} reference accounts: median | the same alone: median | ratio | all probes: median (p90) | its ratio | first probe of an account: median | CPU per probe |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {n} × {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB | {} ({}) | {}, {} | {:.2} ms | {:.2} ms | {:.2}x | {:.2} ms ({:.2} ms) | {:.2}x | {:.2} ms | {:.1} ms |",
            row.build,
            row.shape,
            row.sessions,
            mib(row.idle_rss_kib),
            mib(row.after_rss_kib),
            mib(row.peak_rss_kib),
            mib(row.one_after_rss_kib),
            per_account(per_account_kib(row.after_rss_kib, row.one_after_rss_kib, n)),
            per_account(per_account_kib(row.idle_rss_kib, row.one_idle_rss_kib, n)),
            row.threads,
            row.one_threads,
            ms(row.reference_probes),
            ms(row.alone),
            row.reference_ratio(),
            ms(row.all_probes.0),
            ms(row.all_probes.1),
            row.all_ratio(),
            ms(row.first_probes),
            ms(row.cpu_per_probe),
        );
    }
    println!();
    println!("| build | shape | bar | measured | met? |");
    println!("|---|---|---|---:|---|");
    for row in rows {
        let bars = [
            (
                format!("peak RSS < {PEAK_RSS_BAR_MIB:.0} MiB"),
                format!("{:.1} MiB", row.peak_rss_mib()),
                row.peak_rss_mib() < PEAK_RSS_BAR_MIB,
            ),
            (
                format!("threads with {n} accounts ≤ with 1"),
                format!("{} vs {}", row.threads, row.one_threads),
                row.threads <= row.one_threads,
            ),
            (
                format!(
                    "probe ≤ {PROBE_RATIO_BAR}x the same account alone ({references} accounts)"
                ),
                format!("{:.2}x", row.reference_ratio()),
                row.reference_ratio() <= PROBE_RATIO_BAR,
            ),
            (
                format!("median probe of all {n} ≤ {PROBE_RATIO_BAR}x alone"),
                format!("{:.2}x", row.all_ratio()),
                row.all_ratio() <= PROBE_RATIO_BAR,
            ),
        ];
        for (bar, measured, met) in bars {
            let met = if met { "yes" } else { "no" };
            println!(
                "| {} | {} | {bar} | {measured} | {met} |",
                row.build, row.shape
            );
        }
    }
    println!();
    println!(
        "{n} simulated accounts, each its own simulator and key file, in one exporter (`--config.file`, defaults otherwise), each probed once every {} s for {} rounds; {references} of them also scraped alone at `/metrics` by a single-account exporter each (`--api.url`, `AGI_API_KEY`), once every {0} s next to the account's probe; every request in a slot of its own, spread evenly over the interval; the 1-account exporter has a config file of account-000 alone, probed once a round; RSS and threads from /proc/PID/status after the rounds, CPU from /proc/PID/stat in 10 ms ticks.",
        INTERVAL.as_secs(),
        settings.rounds,
    );
}
