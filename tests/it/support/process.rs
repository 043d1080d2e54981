//! The real `agi_exporter` binary, for the tests whose subject is the
//! process: its flags and exit codes, signals, and everything it prints.
//! It runs with a clean environment (no `AGI_*` or proxy variables from the
//! machine running the tests), on 127.0.0.1 port 0, and its output is
//! collected as it runs.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{KEY, POLL, Reply, exposition_of, http_client, send, tail};

/// How long the binary may take to start listening or to exit.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(15);

/// Output collected from a child's stdout or stderr by a background thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn follow(&self, mut pipe: impl Read + Send + 'static) -> JoinHandle<()> {
        let buffer = Arc::clone(&self.0);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buffer
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend_from_slice(&chunk[..n]),
                }
            }
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// The `agi_exporter` binary with a clean environment: no `AGI_*` or proxy
/// variables leak in from the machine running the tests.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agi_exporter"));
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let lower = name.to_ascii_lowercase();
        if name.starts_with("AGI_") || lower.ends_with("_proxy") || lower == "rust_backtrace" {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A running `agi_exporter` process whose output is being collected.
pub struct Process {
    child: Child,
    stdout: Captured,
    stderr: Captured,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Process {
    /// Spawns the binary with these flags and environment.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut child = command(args, env)
            .spawn()
            .expect("the agi_exporter binary starts");
        let stdout = Captured::default();
        let stderr = Captured::default();
        let readers = vec![
            stdout.follow(child.stdout.take().expect("piped stdout")),
            stderr.follow(child.stderr.take().expect("piped stderr")),
        ];
        Process {
            child,
            stdout,
            stderr,
            readers,
            status: None,
        }
    }

    /// Everything written to stdout so far.
    pub fn stdout_text(&self) -> String {
        self.stdout.text()
    }

    /// Everything written to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.text()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Waits (without blocking the async runtime) for the process to exit,
    /// then for its output to be fully read. `None` if it is still running
    /// after `within`.
    pub async fn wait_for_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_status() {
                // The pipes close when the process exits: the readers finish.
                for reader in self.readers.drain(..) {
                    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends a signal with the `kill` command.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("the kill command runs");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Waits until stderr has a line containing every one of `needles`;
    /// returns that line. Panics with the whole log after `within`.
    pub async fn wait_for_log_line(&self, needles: &[&str], within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = self.stderr_text();
            if let Some(line) = text
                .lines()
                .find(|line| needles.iter().all(|n| line.contains(n)))
            {
                return line.to_owned();
            }
            if Instant::now() >= deadline {
                panic!("no log line containing {needles:?} within {within:?}; stderr:\n{text}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Lines of stderr containing every one of `needles`.
    pub fn log_lines(&self, needles: &[&str]) -> Vec<String> {
        self.stderr_text()
            .lines()
            .filter(|line| needles.iter().all(|n| line.contains(n)))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a process printed and how it ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Finished {
    /// The exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs the binary to completion (bounded by [`STARTUP_DEADLINE`]).
pub async fn run(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut process = Process::spawn(args, env);
    let Some(status) = process.wait_for_exit(STARTUP_DEADLINE).await else {
        panic!(
            "agi_exporter {args:?} still running after {STARTUP_DEADLINE:?}; stderr:\n{}",
            process.stderr_text()
        );
    };
    Finished {
        status,
        stdout: process.stdout_text(),
        stderr: process.stderr_text(),
    }
}

/// A running `agi_exporter` process that is serving HTTP.
pub struct BinaryExporter {
    process: Process,
    address: SocketAddr,
    client: reqwest::Client,
}

impl std::ops::Deref for BinaryExporter {
    type Target = Process;

    fn deref(&self) -> &Process {
        &self.process
    }
}

impl std::ops::DerefMut for BinaryExporter {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}

impl BinaryExporter {
    /// Starts the binary with `args` (which should include
    /// `--web.listen-address 127.0.0.1:0`) and waits for it to log the
    /// address it listens on.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> BinaryExporter {
        let mut process = Process::spawn(args, env);
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let address = loop {
            let log = process.stderr_text();
            if let Some(address) = listening_address(&log) {
                break address;
            }
            if let Some(status) = process.try_status() {
                panic!(
                    "agi_exporter {args:?} exited with {status} before listening; stderr:\n{log}"
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "agi_exporter {args:?} not listening after {STARTUP_DEADLINE:?}; stderr:\n{log}"
                );
            }
            tokio::time::sleep(POLL).await;
        };
        BinaryExporter {
            process,
            address,
            client: http_client(),
        }
    }

    /// Starts an exporter for `api_url` with [`KEY`] and extra flags.
    pub async fn for_api(api_url: &str, extra: &[&str]) -> BinaryExporter {
        let mut args = vec!["--web.listen-address", "127.0.0.1:0", "--api.url", api_url];
        args.extend_from_slice(extra);
        BinaryExporter::start(&args, &[("AGI_API_KEY", KEY)]).await
    }

    /// The base URL it serves on, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address it serves on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The test client, for requests `get` does not cover.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Starts a scrape of `/metrics` in the background; it yields the
    /// status and the body. For scrapes that must overlap.
    pub fn spawn_scrape(&self) -> tokio::task::JoinHandle<(u16, String)> {
        let request = self.client.get(format!("{}/metrics", self.url()));
        tokio::spawn(async move {
            let response = request.send().await.expect("the scrape is answered");
            let status = response.status().as_u16();
            (status, response.text().await.expect("the body is read"))
        })
    }

    /// Sends a request built from `request` and reads the whole answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        send(request).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(format!("{}{path}", self.url())))
            .await
    }

    /// `GET /metrics`, which must answer 200; returns the exposition.
    pub async fn scrape(&self) -> String {
        self.scrape_path("/metrics").await
    }

    /// `GET path`, which must answer 200 with a well-formed exposition
    /// (see [`assert_valid_exposition`]).
    pub async fn scrape_path(&self, path: &str) -> String {
        exposition_of(self.get(path).await, path, || self.stderr_tail(20))
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        self.process.signal("TERM");
    }

    /// Sends SIGINT.
    pub fn sigint(&self) {
        self.process.signal("INT");
    }
}

/// Finds the address in the `listening` log line, logfmt or JSON.
fn listening_address(log: &str) -> Option<SocketAddr> {
    log.lines()
        .filter(|line| line.contains("listening"))
        .find_map(|line| {
            let start = line
                .find("address=")
                .map(|i| i + "address=".len())
                .or_else(|| {
                    line.find(r#""address":""#)
                        .map(|i| i + r#""address":""#.len())
                })?;
            let rest = &line[start..];
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            rest[..end].parse().ok()
        })
}

impl Process {
    /// The last `lines` lines it wrote to stderr, for failure messages.
    pub fn stderr_tail(&self, lines: usize) -> String {
        tail(&self.stderr_text(), lines, "the exporter's stderr")
    }

    /// Its resident set size (`VmRSS` in `/proc/<pid>/status`).
    pub fn rss_bytes(&self) -> u64 {
        proc_status_bytes(self.pid(), "VmRSS:")
    }

    /// Its peak resident set size so far (`VmHWM`).
    pub fn peak_rss_bytes(&self) -> u64 {
        proc_status_bytes(self.pid(), "VmHWM:")
    }
}

fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status:\n{status}"));
    let kib: u64 = line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("bad {field} line {line:?}: {e}"));
    kib * 1024
}
