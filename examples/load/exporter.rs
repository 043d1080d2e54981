//! What both measurements share: the exporter as a child process and what
//! is read of it from `/proc` (CPU time, RSS, threads), the simulated APIs,
//! and the client that scrapes.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use agi_exporter::demo::{SimOptions, Simulator};

/// The parser the integration tests use for the `listening` log line.
#[path = "../../tests/it/support/listening.rs"]
mod listening;
use listening::listening_address;

/// Linux reports process CPU time in ticks of 10 ms (`USER_HZ`).
pub const TICK: Duration = Duration::from_millis(10);
/// How long the exporter may take to say it is listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long any one request may take before the run fails.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// An HTTP client of its own (its own connections), bounded by
/// [`REQUEST_TIMEOUT`].
pub fn new_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the client: {e}"))
}

/// One scrape, as Prometheus sends it (gzip accepted), of `/metrics` or
/// `/probe`, which must report `agi_up 1`.
pub async fn scrape(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("GET {url}: {e}"))?;
    let body = response
        .text()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !body.lines().any(|line| line == "agi_up 1") {
        return Err(format!("GET {url}: no `agi_up 1` in the exposition"));
    }
    Ok(())
}

/// A simulated API on 127.0.0.1, in this process.
pub async fn start_simulator(options: SimOptions) -> Result<Simulator, String> {
    Simulator::start(options)
        .await
        .map_err(|e| format!("cannot start the simulator: {e}"))
}

/// The exporter process; killed when dropped.
pub struct Exporter {
    child: Child,
    pub address: SocketAddr,
}

impl Exporter {
    /// Starts `binary` with `args` on `127.0.0.1:0` and `env`, and none of
    /// the `AGI_` variables of this process (which would change its flags),
    /// and waits for the address it logs.
    pub fn start(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        let mut command = Command::new(binary);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AGI_") {
                command.env_remove(&name);
            }
        }
        let mut child = command
            .args(args)
            .args(["--web.listen-address", "127.0.0.1:0"])
            .envs(env.iter().map(|&(name, value)| (name, OsStr::new(value))))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let Some(stderr) = child.stderr.take() else {
            let _ = child.kill();
            return Err("no stderr pipe".to_owned());
        };
        // Read its log on a thread, which keeps draining it after the
        // listening line so that the exporter never blocks on a full pipe.
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(address) = listening_address(&line) {
                    let _ = sender.send(address);
                } else if line.contains("level=warn") || line.contains("level=error") {
                    eprintln!("exporter: {line}");
                }
            }
        });
        let mut exporter = Exporter {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        exporter.address = receiver
            .recv_timeout(START_TIMEOUT)
            .map_err(|_| "the exporter did not log its listening address".to_owned())?;
        Ok(exporter)
    }

    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.address)
    }

    /// User plus system CPU time, in ticks (`/proc/PID/stat` fields 14, 15).
    pub fn cpu_ticks(&self) -> Result<u64, String> {
        let path = format!("/proc/{}/stat", self.child.id());
        let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        // The command name may hold spaces: count fields after its `)`.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
        match (field(11), field(12)) {
            (Some(user), Some(system)) => Ok(user + system),
            _ => Err(format!("cannot read CPU times from {path}")),
        }
    }

    /// A `kB` line of `/proc/PID/status`, such as `VmRSS` or `VmHWM`.
    pub fn status_kib(&self, field: &str) -> Result<u64, String> {
        self.status(field)?
            .strip_suffix("kB")
            .and_then(|kib| kib.trim().parse().ok())
            .ok_or(format!(
                "no {field} in kB in /proc/{}/status",
                self.child.id()
            ))
    }

    /// Its threads now (`Threads` in `/proc/PID/status`).
    pub fn threads(&self) -> Result<u64, String> {
        self.status("Threads")?
            .parse()
            .map_err(|e| format!("Threads in /proc/{}/status: {e}", self.child.id()))
    }

    /// The value of a line of `/proc/PID/status`.
    fn status(&self, field: &str) -> Result<String, String> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .map(|value| value.trim().to_owned())
            .ok_or(format!("no {field} in {path}"))
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
