//! The address the exporter says it listens on, read from its `listening`
//! log line: how a test or the load script finds the port the binary bound
//! for `--web.listen-address 127.0.0.1:0`. This file stands alone (the load
//! script includes it too).

use std::net::SocketAddr;

/// The address on `line` if it is the exporter's `listening` line, in
/// logfmt (`address=127.0.0.1:4242`, quoted or not) or JSON
/// (`"address":"127.0.0.1:4242"`), with or without ANSI colours.
pub fn listening_address(line: &str) -> Option<SocketAddr> {
    let line = without_ansi_colours(line);
    if !line.contains("listening") {
        return None;
    }
    let value = ["address=", r#""address":"#]
        .iter()
        .find_map(|key| line.split_once(key).map(|(_, after)| after))?;
    let value = value.trim_start_matches('"');
    let end = value
        .find(|c: char| c.is_whitespace() || c == '"' || c == ',' || c == '}')
        .unwrap_or(value.len());
    value[..end].parse().ok()
}

/// `text` without ANSI escape sequences (ESC `[` parameters, then a letter).
fn without_ansi_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn listening_address_reads_the_exporter_log_line_in_either_format() {
    let at = |port| Some(SocketAddr::from(([127, 0, 0, 1], port)));
    let logfmt = "ts=2026-01-01T00:00:00Z level=info target=agi_exporter msg=listening address=127.0.0.1:4242 telemetry_path=/metrics";
    assert_eq!(listening_address(logfmt), at(4242));
    let json = r#"{"timestamp":"2026-01-01T00:00:00Z","level":"INFO","fields":{"message":"listening","address":"127.0.0.1:4243","telemetry_path":"/metrics"}}"#;
    assert_eq!(listening_address(json), at(4243));
    let coloured = "\u{1b}[32mlevel=info\u{1b}[0m msg=listening address=\"127.0.0.1:7\"";
    assert_eq!(listening_address(coloured), at(7));
    assert_eq!(
        listening_address("msg=listening address=[::1]:9"),
        "[::1]:9".parse().ok()
    );
    assert_eq!(listening_address("level=info msg=stopped"), None);
    assert_eq!(
        listening_address("level=warn msg=\"not listening\" address=nowhere"),
        None
    );
}
