//! A simulated session and how it is written in JSON: in the docs' shape
//! (four fields) or in the SDKs' (nine, about 500 bytes), in either
//! vocabulary of statuses.

use crate::api::timestamp::{UnixMillis, format_timestamp};

use super::rng::Rng;

/// A status as the simulator writes it. The docs and the SDKs name
/// different ones; `ready`, `running`, `paused` and `error` are in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Status {
    /// Docs only.
    Initializing,
    Ready,
    Running,
    /// SDKs only: the agent asked the user a question and waits for the answer.
    WaitingForInput,
    Paused,
    /// Docs only.
    Completed,
    /// SDKs only: the task is done.
    Finished,
    Error,
    /// Docs only.
    Terminated,
}

impl Status {
    /// The SDKs' statuses.
    #[cfg(test)]
    pub(super) const SDK: [Status; 6] = [
        Status::Ready,
        Status::Running,
        Status::WaitingForInput,
        Status::Paused,
        Status::Finished,
        Status::Error,
    ];

    /// The docs' statuses.
    #[cfg(test)]
    pub(super) const DOCS: [Status; 7] = [
        Status::Initializing,
        Status::Ready,
        Status::Running,
        Status::Paused,
        Status::Completed,
        Status::Error,
        Status::Terminated,
    ];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Status::Initializing => "initializing",
            Status::Ready => "ready",
            Status::Running => "running",
            Status::WaitingForInput => "waiting_for_input",
            Status::Paused => "paused",
            Status::Completed => "completed",
            Status::Finished => "finished",
            Status::Error => "error",
            Status::Terminated => "terminated",
        }
    }

    /// Whether the session has ended.
    pub(super) fn is_final(self) -> bool {
        matches!(
            self,
            Status::Completed | Status::Finished | Status::Error | Status::Terminated
        )
    }
}

/// A session's id: 128 random bits, written as a version 4 UUID.
pub(super) type SessionId = u128;

/// One session of a simulated account.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) id: SessionId,
    pub(super) agent: &'static str,
    pub(super) status: Status,
    pub(super) created_at: UnixMillis,
    /// The fields the SDKs add, or `None` for a session written as the
    /// docs show it.
    pub(super) sdk: Option<SdkFields>,
}

/// What the SDKs' session objects carry beyond the docs' four fields.
#[derive(Debug, Clone, Copy)]
pub(super) struct SdkFields {
    /// `agent_session_type`.
    pub(super) kind: SessionType,
    /// `environment_id`'s random part; `null` for a browser the user
    /// brings (`external-cdp`), which no environment of the account holds.
    pub(super) environment: Option<u64>,
    /// The user's task: one of [`GOALS`], as written.
    pub(super) goal: &'static str,
    /// The token in `vnc_url`.
    pub(super) vnc_token: u128,
    /// The token in `agent_url`.
    pub(super) agent_token: u64,
    /// `created_at`'s microseconds within its millisecond, which the SDKs'
    /// timestamps carry and ages ignore.
    pub(super) micros: u16,
}

impl SdkFields {
    /// Random SDK fields.
    pub(super) fn random(rng: &mut Rng) -> Self {
        let kind = match rng.below(10) {
            0..=7 => SessionType::ManagedCdp,
            8 => SessionType::ExternalCdp,
            _ => SessionType::Desktop,
        };
        let environment = rng.next();
        SdkFields {
            kind,
            environment: (kind != SessionType::ExternalCdp).then_some(environment),
            goal: rng.pick(&GOALS),
            vnc_token: rng.wide(),
            agent_token: rng.next(),
            micros: rng.below(1000) as u16,
        }
    }
}

/// `agent_session_type`: where the agent's browser or desktop runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SessionType {
    ManagedCdp,
    ExternalCdp,
    Desktop,
}

impl SessionType {
    fn as_str(self) -> &'static str {
        match self {
            SessionType::ManagedCdp => "managed-cdp",
            SessionType::ExternalCdp => "external-cdp",
            SessionType::Desktop => "desktop",
        }
    }
}

/// Users' tasks, exactly as the API writes them inside a JSON string:
/// quotes, backslashes, newlines, tabs and escaped slashes, `\u` escapes
/// (a surrogate pair among them) and raw UTF-8, text that looks like a
/// session's own fields, and a backslash right before a closing quote.
pub(super) const GOALS: [&str; 14] = [
    r#"Book a table for 4 at \"Chez L\u00e9on\" on Friday at 8pm, terrace if possible"#,
    r#"Find the cheapest direct flight Z\u00fcrich \u2192 Lisbon for 12\u201315 May and hold it; don't pay"#,
    r#"Download last month's invoices from the billing portal into C:\\Users\\ana\\Invoices\\2025-10"#,
    "Réserve deux places pour « Le Misanthrope » à la Comédie-Française samedi soir",
    r#"Fill in the visa form with:\nname: Ana Souza\nnationality: Brazilian\nand ask me for the passport number"#,
    r#"Open https:\/\/shop.example.com\/cart, remove every item over 50 \u20ac\tthen check out"#,
    r#"Reply to the team thread with a \ud83d\udc4d and \"ship it\""#,
    "Order 🍕 for 6 people from the place on 5th Avenue, nothing spicy 🌶️",
    "東京駅から京都駅までの新幹線を予約してください（窓側の席）",
    r#"POST {\"status\":\"error\",\"agent_name\":\"agi-0\"} to the test webhook and tell me its answer"#,
    r#"Rename the shared folder to \"Q3 \\ final\\\" and share it with finance"#,
    "Check my inbox",
    r#"Compare the three cheapest 65\" OLED TVs on the sites I use, with each one's return policy, delivery date and whether the wall mount is included; wait for me to choose"#,
    r#"Cancel the gym membership \u2014 the login is in my password manager; ask me for the 2FA code"#,
];

/// Where the session's browser is watched: a reserved example domain.
const VNC_URL: &str = "https://vnc.example.test/";
/// Where the session's agent is reached.
const AGENT_URL: &str = "https://agent.example.test/";

impl Session {
    /// Appends the session's JSON object to `out`. Every shape starts with
    /// `{"session_id"`, which [`super::respaced`] relies on.
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"session_id":""#);
        push_uuid(out, self.id);
        out.extend_from_slice(br#"","agent_name":""#);
        out.extend_from_slice(self.agent.as_bytes());
        let Some(sdk) = &self.sdk else {
            out.extend_from_slice(br#"","status":""#);
            out.extend_from_slice(self.status.as_str().as_bytes());
            out.extend_from_slice(br#"","created_at":""#);
            out.extend_from_slice(format_timestamp(self.created_at).as_bytes());
            out.extend_from_slice(br#""}"#);
            return;
        };
        // The fields the exporter reads, between others that hold free text.
        out.extend_from_slice(br#"","vnc_url":""#);
        out.extend_from_slice(VNC_URL.as_bytes());
        push_uuid(out, self.id);
        out.extend_from_slice(b"?token=");
        push_hex(out, sdk.vnc_token, 24);
        out.extend_from_slice(br#"","agent_url":""#);
        out.extend_from_slice(AGENT_URL.as_bytes());
        push_uuid(out, self.id);
        out.extend_from_slice(b"?token=");
        push_hex(out, u128::from(sdk.agent_token), 16);
        out.extend_from_slice(br#"","status":""#);
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.extend_from_slice(br#"","goal":""#);
        out.extend_from_slice(sdk.goal.as_bytes());
        // `2025-10-05T18:04:34.281123+00:00`: microseconds and an offset.
        out.extend_from_slice(br#"","created_at":""#);
        let millis = format_timestamp(self.created_at);
        out.extend_from_slice(millis.trim_end_matches('Z').as_bytes());
        push_decimal(out, sdk.micros, 3);
        out.extend_from_slice(br#"+00:00","environment_id":"#);
        match sdk.environment {
            Some(environment) => {
                out.extend_from_slice(b"\"env_");
                push_hex(out, u128::from(environment), 16);
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(br#","agent_session_type":""#);
        out.extend_from_slice(sdk.kind.as_str().as_bytes());
        out.extend_from_slice(br#""}"#);
    }
}

/// Appends the `digits` low hexadecimal digits of `value`.
fn push_hex(out: &mut Vec<u8>, value: u128, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for place in (0..digits).rev() {
        out.push(HEX[(value >> (4 * place)) as usize & 0xf]);
    }
}

/// Appends `value` in `digits` decimal digits, zero-padded.
fn push_decimal(out: &mut Vec<u8>, value: u16, digits: u32) {
    for place in (0..digits).rev() {
        out.push(b'0' + (value / 10u16.pow(place) % 10) as u8);
    }
}

/// Appends `id` as a version 4 UUID (`xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx`).
fn push_uuid(out: &mut Vec<u8>, id: SessionId) {
    let version_4 = (id & !(0xf << 76)) | (0x4 << 76);
    let variant = (version_4 & !(0x3 << 62)) | (0x2 << 62);
    push_hex(out, variant >> 96, 8);
    out.push(b'-');
    push_hex(out, variant >> 80, 4);
    out.push(b'-');
    push_hex(out, variant >> 64, 4);
    out.push(b'-');
    push_hex(out, variant >> 48, 4);
    out.push(b'-');
    push_hex(out, variant, 12);
}

#[cfg(test)]
/// What each of [`GOALS`] says, written by hand: what a JSON reader must
/// make of them.
pub(super) const GOAL_TEXTS: [&str; 14] = [
    "Book a table for 4 at \"Chez Léon\" on Friday at 8pm, terrace if possible",
    "Find the cheapest direct flight Zürich → Lisbon for 12–15 May and hold it; don't pay",
    "Download last month's invoices from the billing portal into C:\\Users\\ana\\Invoices\\2025-10",
    "Réserve deux places pour « Le Misanthrope » à la Comédie-Française samedi soir",
    "Fill in the visa form with:\nname: Ana Souza\nnationality: Brazilian\nand ask me for the passport number",
    "Open https://shop.example.com/cart, remove every item over 50 €\tthen check out",
    "Reply to the team thread with a 👍 and \"ship it\"",
    "Order 🍕 for 6 people from the place on 5th Avenue, nothing spicy 🌶️",
    "東京駅から京都駅までの新幹線を予約してください（窓側の席）",
    "POST {\"status\":\"error\",\"agent_name\":\"agi-0\"} to the test webhook and tell me its answer",
    "Rename the shared folder to \"Q3 \\ final\\\" and share it with finance",
    "Check my inbox",
    "Compare the three cheapest 65\" OLED TVs on the sites I use, with each one's return policy, delivery date and whether the wall mount is included; wait for me to choose",
    "Cancel the gym membership — the login is in my password manager; ask me for the 2FA code",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_goal_reads_back_as_its_text_and_every_kind_of_escape_is_used() {
        for (written, text) in GOALS.iter().zip(GOAL_TEXTS) {
            let read: String = serde_json::from_str(&format!("\"{written}\""))
                .unwrap_or_else(|e| panic!("{written}: {e}"));
            assert_eq!(read, text);
        }
        let all = GOALS.concat();
        for escape in [
            r#"\""#, r"\\", r"\n", r"\t", r"\/", r"\u00e9", r"\ud83d", r#"\\\""#,
        ] {
            assert!(all.contains(escape), "no goal writes {escape}");
        }
        assert!(all.contains('é') && all.contains('東'), "no raw UTF-8");
    }

    #[test]
    fn a_uuid_is_a_version_4_uuid() {
        let mut out = Vec::new();
        push_uuid(&mut out, u128::MAX);
        assert_eq!(out, b"ffffffff-ffff-4fff-bfff-ffffffffffff");
        out.clear();
        push_uuid(&mut out, 0);
        assert_eq!(out, b"00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn both_shapes_are_json_with_the_fields_of_their_shape() {
        let mut rng = Rng::new(3);
        for sdk in [None, Some(SdkFields::random(&mut rng))] {
            let session = Session {
                id: rng.wide(),
                agent: "agi-0",
                status: Status::WaitingForInput,
                created_at: 1_800_000_000_123,
                sdk,
            };
            let mut out = Vec::new();
            session.write(&mut out);
            let read: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(read["status"], "waiting_for_input");
            assert_eq!(read["agent_name"], "agi-0");
            let created_at = read["created_at"].as_str().unwrap_or_default();
            assert_eq!(
                crate::api::timestamp::parse_timestamp(created_at),
                Some(1_800_000_000_123),
                "{created_at}"
            );
            assert_eq!(read.len(), if sdk.is_some() { 9 } else { 4 }, "{read:?}");
            assert!(out.starts_with(br#"{"session_id":""#));
        }
    }
}
