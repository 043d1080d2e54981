//! Child processes: the real `agi_exporter` binary, for the tests whose
//! subject is the process (its flags and exit codes, signals, everything it
//! prints), and the servers of the end-to-end tests (Prometheus,
//! Alertmanager, VictoriaMetrics).
//!
//! A [`Process`] collects its stdout and stderr as it runs. Dropping it
//! kills and reaps it; when the test is failing, it first prints the end of
//! what the process wrote. The binary runs with a clean environment (no
//! `AGI_*` or proxy variables from the machine running the tests), and a
//! [`BinaryExporter`] listens on 127.0.0.1 port 0 and reports the address
//! from its `listening` log line.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::listening::listening_address;
use super::wait::{eventually, poll};
use super::{KEY, Serving, lines_containing, tail, wait_for_line};

/// How long a process may take to start listening, or the binary to run
/// to completion.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(20);

/// Lines of a process's output printed when the test fails.
const TAIL_LINES: usize = 40;

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

/// The `agi_exporter` binary with these flags and environment, and nothing
/// else: no `AGI_*` or proxy variables leak in from the machine running the
/// tests.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agi_exporter"));
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let lower = name.to_ascii_lowercase();
        if name.starts_with("AGI_") || lower.ends_with("_proxy") || lower == "rust_backtrace" {
            command.env_remove(name);
        }
    }
    command.args(args).envs(env.iter().copied());
    command
}

/// A running child process whose output is being collected.
pub struct Process {
    name: String,
    child: Child,
    stdout: Captured,
    stderr: Captured,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Process {
    /// Starts `command` (called `name` in failure messages) with no
    /// stdin and its output collected.
    pub fn spawn(name: &str, mut command: Command) -> Process {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        let stdout = Captured::default();
        let stderr = Captured::default();
        let readers = vec![
            stdout.follow(child.stdout.take().expect("piped stdout")),
            stderr.follow(child.stderr.take().expect("piped stderr")),
        ];
        Process {
            name: name.to_owned(),
            child,
            stdout,
            stderr,
            readers,
            status: None,
        }
    }

    /// Starts the `agi_exporter` binary (see [`command`]).
    pub fn exporter(args: &[&str], env: &[(&str, &str)]) -> Process {
        Process::spawn("agi_exporter", command(args, env))
    }

    /// Everything written to stdout so far.
    pub fn stdout_text(&self) -> String {
        self.stdout.text()
    }

    /// Everything written to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.text()
    }

    /// Everything written so far: stdout, then stderr.
    pub fn output(&self) -> String {
        self.stdout_text() + &self.stderr_text()
    }

    /// The last `lines` lines it wrote to stderr, for failure messages.
    pub fn stderr_tail(&self, lines: usize) -> String {
        tail(
            &self.stderr_text(),
            lines,
            &format!("{}'s stderr", self.name),
        )
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
        let status = poll(within, async || self.try_status().ok_or(()))
            .await
            .ok()?;
        // The pipes close when the process exits: the readers finish.
        for reader in self.readers.drain(..) {
            let _ = tokio::task::spawn_blocking(move || reader.join()).await;
        }
        Some(status)
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
        let source = format!("{}'s stderr", self.name);
        wait_for_line(&source, needles, within, || self.stderr_text()).await
    }

    /// Lines of stderr containing every one of `needles`.
    pub fn log_lines(&self, needles: &[&str]) -> Vec<String> {
        lines_containing(&self.stderr_text(), needles)
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

impl Drop for Process {
    fn drop(&mut self) {
        if self.status.is_none() && !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The pipes close with the process, so the readers end.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        if std::thread::panicking() {
            let stdout = self.stdout_text();
            if !stdout.is_empty() {
                let source = format!("{}'s stdout", self.name);
                eprintln!("{}", tail(&stdout, TAIL_LINES, &source));
            }
            eprintln!("{}", self.stderr_tail(TAIL_LINES));
        }
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
    let mut process = Process::exporter(args, env);
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

/// A running `agi_exporter` process that is serving HTTP; what a test asks
/// of it over HTTP is [`Serving`]'s.
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

impl Serving for BinaryExporter {
    fn address(&self) -> SocketAddr {
        self.address
    }

    fn client(&self) -> &reqwest::Client {
        &self.client
    }

    fn log_tail(&self, lines: usize) -> String {
        self.stderr_tail(lines)
    }
}

impl BinaryExporter {
    /// Starts the binary with `args` (which should include
    /// `--web.listen-address 127.0.0.1:0`) and waits for it to log the
    /// address it listens on.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> BinaryExporter {
        let mut process = Process::exporter(args, env);
        let address = eventually(
            &format!("agi_exporter {args:?} logs its listening address"),
            STARTUP_DEADLINE,
            async || {
                if let Some(status) = process.try_status() {
                    panic!(
                        "agi_exporter {args:?} exited with {status} before listening; stderr:\n{}",
                        process.stderr_text()
                    );
                }
                let log = process.stderr_text();
                log.lines()
                    .find_map(listening_address)
                    .ok_or_else(|| format!("stderr:\n{log}"))
            },
        )
        .await;
        BinaryExporter {
            process,
            address,
            client: super::http_client(),
        }
    }

    /// Starts an exporter for `api_url` with [`KEY`] and extra flags.
    pub async fn for_api(api_url: &str, extra: &[&str]) -> BinaryExporter {
        BinaryExporter::for_api_with_key(api_url, KEY, extra).await
    }

    /// Starts an exporter for `api_url` with `key` and extra flags.
    pub async fn for_api_with_key(api_url: &str, key: &str, extra: &[&str]) -> BinaryExporter {
        let mut args = vec!["--web.listen-address", "127.0.0.1:0", "--api.url", api_url];
        args.extend_from_slice(extra);
        BinaryExporter::start(&args, &[("AGI_API_KEY", key)]).await
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
