//! What an in-process exporter logs, captured per test.
//!
//! Each test runs on its own thread, and a `#[tokio::test]` runtime runs
//! every task on that thread, so the exporter's log lines are captured by a
//! subscriber installed as that thread's default: the same subscriber, and
//! so the same line formats, as the binary's. The first exporter of a test
//! installs it; later ones in the same test share it.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agi_exporter::{LogFormat, LogLevel, log_subscriber};
use tracing_subscriber::fmt::MakeWriter;

use super::{lines_containing, tail, wait_for_line};

thread_local! {
    static CAPTURE: RefCell<Option<(Logs, tracing::subscriber::DefaultGuard)>> =
        const { RefCell::new(None) };
}

/// The log lines of this test so far.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// This thread's capture, installed at `level` in `format` if it is the
    /// first.
    pub fn capture(level: LogLevel, format: LogFormat) -> Logs {
        CAPTURE.with(|capture| {
            let mut capture = capture.borrow_mut();
            if let Some((logs, _)) = capture.as_ref() {
                return logs.clone();
            }
            let logs = Logs::default();
            let guard =
                tracing::subscriber::set_default(log_subscriber(level, format, logs.clone()));
            *capture = Some((logs.clone(), guard));
            logs
        })
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Lines containing every one of `needles`.
    pub fn lines(&self, needles: &[&str]) -> Vec<String> {
        lines_containing(&self.text(), needles)
    }

    /// Waits until a line contains every one of `needles`; returns it.
    /// Panics with the whole log after `within`.
    pub async fn wait_for(&self, needles: &[&str], within: Duration) -> String {
        wait_for_line("the log", needles, within, || self.text()).await
    }

    /// The last `lines` lines, for failure messages.
    pub fn tail(&self, lines: usize) -> String {
        tail(&self.text(), lines, "the log")
    }
}

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}
