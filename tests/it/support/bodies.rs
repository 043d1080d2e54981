//! Session lists as an API writes them, for the property tests: one place
//! that knows both shapes a session comes in and both vocabularies of
//! statuses, and writes them plain, odd, mixed or hostile.
//!
//! - The docs' shape: `session_id`, `agent_name`, `status`, `created_at`
//!   (about 135 bytes). The SDKs' shape adds `vnc_url` and `agent_url`
//!   (URLs whose query carries a token), `environment_id`, `goal` (the
//!   user's task, free text: quotes, backslashes, newlines, JSON look-alikes,
//!   any script) and `agent_session_type` (about 500 bytes).
//! - The docs' statuses ([`DOCUMENTED_STATUSES`]) and the SDKs'
//!   ([`SDK_STATUSES`]); and a status neither lists.
//! - A body speaks one shape and one vocabulary, or mixes them session by
//!   session, as an API in transition does ([`Account`]).
//!
//! Strings are written with any of the escapes JSON allows (`\"` or
//! `\u0022`, `\/`, `\u00e9` for `é`, a surrogate pair for `😀`), not only
//! the ones serde_json writes. Values are sometimes blank, null, missing or
//! not strings at all, keys come in either spelling and in any order, and
//! the spacing varies.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

pub use super::contract::{DOCUMENTED_STATUSES, KNOWN_STATUSES, SDK_STATUSES};

/// A status neither vocabulary lists, as an API that adds one would send.
pub const UNLISTED_STATUS: &str = "cancelled";

/// A few session ids, so that one id comes in several versions.
pub const SESSION_IDS: [&str; 6] = [
    "f6a7b0e6-7f46-4a0d-9a47-92b7f0a4d2d3",
    "0c1d9e4a-5b6f-4c2e-8a1b-3d4e5f6a7b8c",
    "s-2",
    "s-3",
    "a",
    "b",
];

/// Agent names seen in public material.
pub const AGENT_NAMES: [&str; 5] = ["agi-0", "agi-1", "agi-2-claude", "agi-2-qwen", "agi-0-fast"];

/// Creation times in the forms an API writes, and one that is not a time.
pub const CREATED_AT: [&str; 5] = [
    "2025-10-05T18:04:34.281Z",
    "2025-10-05T18:04:34",
    "2025-10-05T20:04:34.123456789+02:00",
    "2099-01-01T00:00:00Z",
    "not a date",
];

/// The SDKs' kinds of session.
pub const SESSION_TYPES: [&str; 3] = ["managed-cdp", "external-cdp", "desktop"];

/// Goals as users type them: quotes, backslashes, newlines and tabs, text
/// that looks like JSON or like the rest of a session, non-ASCII text,
/// control characters, nothing at all, and a long one.
pub const GOALS: [&str; 10] = [
    "Book a table for 2 at \"Chez Léa\" on Friday, then reply \"done\"",
    "Find flights SFO/NYC under $300 😀 and compare them",
    "Line one\nline two\twith a tab, a C:\\path\\to\\file and a \\\" in it",
    "{\"status\":\"error\",\"agent_name\":\"agi-x\"} is not JSON here: }],{:",
    "\"},{\"session_id\":\"forged\",\"status\":\"running\"}]",
    "東京で寿司を予約して — 2 people, 19:00",
    "bell \u{7} nul \u{0} unit separator \u{1f} del \u{7f}",
    "",
    " ",
    "Compare the three laptops on the page, list each one's price, weight, battery life and \
     screen, pick the one with the best battery under 1.5 kg, add it to the cart, apply the \
     code \"SAVE10\" if the page offers a field for it, and stop at checkout without paying; \
     report the total (with tax) and the delivery date.",
];

/// Which fields a session carries. (The simulator's `demo::Shape` is a
/// whole body's, a mix included, with the vocabulary tied to the shape;
/// here a session's shape and its vocabulary are drawn apart, see
/// [`Account`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The four documented fields.
    Docs,
    /// The four, and the SDKs' five others.
    Sdk,
}

/// Which statuses a session's `status` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocabulary {
    /// The documented seven.
    Docs,
    /// The SDKs' six.
    Sdk,
}

impl Vocabulary {
    /// Its statuses, and one neither vocabulary lists.
    pub fn statuses(self) -> Vec<&'static str> {
        let listed: &[&str] = match self {
            Vocabulary::Docs => &DOCUMENTED_STATUSES,
            Vocabulary::Sdk => &SDK_STATUSES,
        };
        [listed, &[UNLISTED_STATUS]].concat()
    }
}

/// What the sessions of one body speak: one shape and one vocabulary, or,
/// where `None`, each session its own (an API in transition).
#[derive(Debug, Clone, Copy)]
pub struct Account {
    /// The shape of every session, or `None` for a mix.
    pub shape: Option<Shape>,
    /// The vocabulary of every session, or `None` for a mix.
    pub vocabulary: Option<Vocabulary>,
}

impl Account {
    /// A session's shape.
    pub fn shape(self) -> BoxedStrategy<Shape> {
        match self.shape {
            Some(shape) => Just(shape).boxed(),
            None => select(vec![Shape::Docs, Shape::Sdk]).boxed(),
        }
    }

    /// A session's vocabulary.
    pub fn vocabulary(self) -> BoxedStrategy<Vocabulary> {
        match self.vocabulary {
            Some(vocabulary) => Just(vocabulary).boxed(),
            None => select(vec![Vocabulary::Docs, Vocabulary::Sdk]).boxed(),
        }
    }
}

/// Any account: either shape or a mix, with either vocabulary or a mix.
pub fn account() -> impl Strategy<Value = Account> {
    let shape = select(vec![Some(Shape::Docs), Some(Shape::Sdk), None]);
    let vocabulary = select(vec![Some(Vocabulary::Docs), Some(Vocabulary::Sdk), None]);
    (shape, vocabulary).prop_map(|(shape, vocabulary)| Account { shape, vocabulary })
}

/// `text` as a JSON string, written as `style` says: each character that
/// may be escaped another way is, by a bit of `style` (`\u0022` for `"`,
/// `\/` for `/`, `\u000a` for a newline, `\u00e9` for `é`, a surrogate
/// pair for `😀`, hex digits in either case); when `style` is a multiple
/// of 8, plain ASCII letters and digits may be escaped too.
pub fn json_string(text: &str, style: u64) -> String {
    use std::fmt::Write;
    let freely = style.is_multiple_of(8);
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for (i, c) in text.chars().enumerate() {
        let bit = |n: usize| (style >> ((i + n) % 64)) & 1 == 1;
        let other_way = bit(0);
        let unicode = |out: &mut String, c: char| {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                if bit(32) {
                    let _ = write!(out, "\\u{unit:04X}");
                } else {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        };
        match c {
            '"' | '\\' | '\u{0}'..='\u{1f}' if other_way => unicode(&mut out, c),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{0}'..='\u{1f}' => unicode(&mut out, c),
            '/' if other_way => out.push_str("\\/"),
            c if other_way && !c.is_ascii() => unicode(&mut out, c),
            c if other_way && freely => unicode(&mut out, c),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A URL as the SDKs' sessions carry them, its query holding a token.
pub fn url_with_token() -> impl Strategy<Value = String> {
    (
        select(vec![
            "https://vnc.agi.example/session/",
            "https://agent.agi.example/v1/agents/",
            "http://10.0.0.7:6080/vnc.html?path=",
        ]),
        select(SESSION_IDS.to_vec()),
        "[A-Za-z0-9_-]{12,43}",
        select(vec![
            "",
            "&view_only=1",
            "&password=p%2Fq%3D%22x",
            "#frag/ment",
        ]),
    )
        .prop_map(|(base, id, token, rest)| format!("{base}{id}?token={token}{rest}"))
}

/// A goal: one of [`GOALS`], after plain text of any length (so that what
/// matters in it falls anywhere in the sixteen-byte blocks a fast reader
/// may scan), or any text of the characters that matter to JSON and to a
/// session's grammar.
pub fn goal() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => select(GOALS.to_vec()).prop_map(str::to_owned),
        2 => ("[a-z ]{0,70}", select(GOALS.to_vec())).prop_map(|(plain, goal)| plain + goal),
        1 => "[a \"\\\\/\n\t\u{1}{}\\[\\],:é😀]{0,40}",
        1 => ".{0,60}",
    ]
}

/// A written value: mostly one of `plausible`, as a string with any
/// escapes; sometimes another string, blank, null, or any JSON at all.
fn written(plausible: BoxedStrategy<String>) -> BoxedStrategy<String> {
    prop_oneof![
        12 => (plausible, any::<u64>()).prop_map(|(text, style)| json_string(&text, style)),
        1 => (".{0,20}", any::<u64>()).prop_map(|(text, style)| json_string(&text, style)),
        1 => select(vec!["\"\"", "\" \"", "null", "0", "true", "{}", "[\"a\"]"]).prop_map(str::to_owned),
        1 => any_json().prop_map(|value| value.to_string()),
    ]
    .boxed()
}

fn one_of(values: &[&'static str]) -> BoxedStrategy<String> {
    select(values.to_vec()).prop_map(str::to_owned).boxed()
}

/// What a member of a session holds, which decides its plausible values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    SessionId,
    AgentName,
    Status,
    CreatedAt,
    VncUrl,
    AgentUrl,
    EnvironmentId,
    Goal,
    SessionType,
    /// Any other member.
    Other,
}

impl Role {
    /// A plausible value for this member, in a session of `vocabulary`, as
    /// text.
    fn plausible(self, vocabulary: Vocabulary) -> BoxedStrategy<String> {
        match self {
            Role::SessionId => one_of(&SESSION_IDS),
            Role::AgentName => one_of(&AGENT_NAMES),
            Role::Status => one_of(&vocabulary.statuses()),
            Role::CreatedAt => one_of(&CREATED_AT),
            Role::VncUrl | Role::AgentUrl => url_with_token().boxed(),
            Role::EnvironmentId => "env-[0-9a-f]{8}".boxed(),
            Role::Goal => goal().boxed(),
            Role::SessionType => one_of(&SESSION_TYPES),
            Role::Other => ".{0,12}".boxed(),
        }
    }

    /// A written value for this member: plausible, with any escapes; or,
    /// where `odd`, sometimes anything else (see [`written`]).
    fn value(self, vocabulary: Vocabulary, odd: bool) -> BoxedStrategy<String> {
        match (self, odd) {
            (Role::Other, true) => any_json().prop_map(|value| value.to_string()).boxed(),
            (_, true) => written(self.plausible(vocabulary)),
            (_, false) => (self.plausible(vocabulary), any::<u64>())
                .prop_map(|(text, style)| json_string(&text, style))
                .boxed(),
        }
    }
}

/// The members of a session in `shape`, in the order the SDKs' sessions
/// are written: a key (as written between its quotes) and what it holds.
fn keys(shape: Shape, camel: bool) -> Vec<(&'static str, Role)> {
    let docs = if camel {
        [
            ("sessionId", Role::SessionId),
            ("agentName", Role::AgentName),
            ("status", Role::Status),
            ("createdAt", Role::CreatedAt),
        ]
    } else {
        [
            ("session_id", Role::SessionId),
            ("agent_name", Role::AgentName),
            ("status", Role::Status),
            ("created_at", Role::CreatedAt),
        ]
    };
    let sdk = if camel {
        [
            ("vncUrl", Role::VncUrl),
            ("agentUrl", Role::AgentUrl),
            ("environmentId", Role::EnvironmentId),
            ("goal", Role::Goal),
            ("agentSessionType", Role::SessionType),
        ]
    } else {
        [
            ("vnc_url", Role::VncUrl),
            ("agent_url", Role::AgentUrl),
            ("environment_id", Role::EnvironmentId),
            ("goal", Role::Goal),
            ("agent_session_type", Role::SessionType),
        ]
    };
    match shape {
        Shape::Docs => docs.to_vec(),
        // The id and the URLs first, the fields the docs list next, then
        // the rest: a goal after the status, so that one which looks like
        // a status comes after the real one as well as before it (in the
        // shuffled sessions).
        Shape::Sdk => vec![
            docs[0], sdk[0], sdk[1], docs[1], docs[2], docs[3], sdk[2], sdk[3], sdk[4],
        ],
    }
}

/// One session's members, in order: a key as written between its quotes,
/// and a value as written.
pub type Members = Vec<(String, String)>;

/// A session of `shape` and `vocabulary`. Half of them are as an API
/// writes them: every field there and plausible, in the SDKs' order. The
/// others are odd: each field mostly there and plausible, sometimes
/// missing, blank, null or of another type; a few other members (whose keys
/// may be a field's); the members in the SDKs' order or any.
pub fn members(shape: Shape, vocabulary: Vocabulary, camel: bool) -> BoxedStrategy<Members> {
    let keys = keys(shape, camel);
    let plain: Vec<_> = keys
        .iter()
        .map(|&(key, role)| {
            role.value(vocabulary, false)
                .prop_map(move |value| (key.to_owned(), value))
        })
        .collect();
    let fields: Vec<BoxedStrategy<Option<(String, String)>>> = keys
        .into_iter()
        .map(|(key, role)| {
            prop_oneof![
                7 => role.value(vocabulary, true).prop_map(move |value| Some((key.to_owned(), value))),
                1 => Just(None),
            ]
            .boxed()
        })
        .collect();
    let extra = prop::collection::vec(
        ("[a-z]{1,6}", Role::Other.value(vocabulary, true)),
        0..if shape == Shape::Docs { 3 } else { 2 },
    );
    let odd = (fields, extra).prop_map(|(fields, extra)| {
        let mut members: Members = fields.into_iter().flatten().collect();
        members.extend(extra);
        members
    });
    prop_oneof![
        4 => plain,
        3 => odd.clone(),
        1 => odd.prop_shuffle(),
    ]
    .boxed()
}

/// How a session's members are spaced: after each colon, and between
/// members.
#[derive(Debug, Clone, Copy)]
pub struct Spacing {
    /// Written between a key and its value.
    pub colon: &'static str,
    /// Written between two members, and between two sessions.
    pub comma: &'static str,
}

impl Spacing {
    /// No spacing at all, as most APIs write.
    pub const COMPACT: Spacing = Spacing {
        colon: ":",
        comma: ",",
    };
}

/// Any of a few spacings, pretty-printing's included.
pub fn spacing() -> impl Strategy<Value = Spacing> {
    select(vec![
        Spacing::COMPACT,
        Spacing {
            colon: ": ",
            comma: ", ",
        },
        Spacing {
            colon: " : ",
            comma: ",\n    ",
        },
    ])
}

/// A session written from its members.
pub fn session_text(members: &Members, spacing: Spacing) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|(key, value)| format!("\"{key}\"{}{value}", spacing.colon))
        .collect();
    format!("{{{}}}", members.join(spacing.comma))
}

/// A session as serde_json reads it: a repeated key keeps its last value.
pub fn session_value(members: &Members) -> Value {
    let mut object = Map::new();
    for (key, value) in members {
        let key: String = serde_json::from_str(&format!("\"{key}\"")).expect("a key is JSON");
        object.insert(key, serde_json::from_str(value).expect("a value is JSON"));
    }
    Value::Object(object)
}

/// Any JSON value, strings with escapes of every kind included.
pub fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        // Strings that serialize with escapes of every kind.
        "[a\"\\\\/\n\t\u{1}\u{1f}é😀]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A session of `account`, as a `Value`.
pub fn session_in(account: Account) -> BoxedStrategy<Value> {
    (account.shape(), account.vocabulary(), any::<bool>())
        .prop_flat_map(|(shape, vocabulary, camel)| members(shape, vocabulary, camel))
        .prop_map(|members| session_value(&members))
        .boxed()
}

/// A session of any shape and vocabulary, as a `Value`.
pub fn any_session() -> BoxedStrategy<Value> {
    account().prop_flat_map(session_in).boxed()
}

/// A list of the sessions of one account, bare or wrapped, as a `Value`:
/// up to 16 sessions, up to 8 when some are in the SDKs' shape.
pub fn any_body() -> BoxedStrategy<Value> {
    (account(), select(vec!["", "sessions", "data", "items"]))
        .prop_flat_map(|(account, wrapper)| {
            let most = if account.shape == Some(Shape::Docs) {
                16
            } else {
                8
            };
            (
                prop::collection::vec(session_in(account), 0..most),
                Just(wrapper),
            )
        })
        .prop_map(|(sessions, wrapper)| {
            if wrapper.is_empty() {
                Value::Array(sessions)
            } else {
                json!({ wrapper: sessions, "total": 1 })
            }
        })
        .boxed()
}

/// How the sessions of one run in a [`written_body`] are written: their
/// keys in order, each with a palette of four values, and their spacing.
#[derive(Debug, Clone)]
struct Layout {
    members: Vec<(&'static str, [String; 4])>,
    spacing: Spacing,
}

/// Keys beyond a shape's own, for the layouts of [`written_body`]: another
/// member, a field's key written twice or with an escape (`a\u0074`,
/// `go\u0061l`), the other spelling of a field.
const ODD_KEYS: [&str; 6] = [
    "note",
    "status",
    "a\\u0074",
    "go\\u0061l",
    "sessionId",
    "agentName",
];

fn layout(shape: Shape, vocabulary: Vocabulary, odd: bool) -> impl Strategy<Value = Layout> {
    let own = keys(shape, false);
    let odd_keys: Vec<(&'static str, Role)> = ODD_KEYS
        .iter()
        .map(|key| {
            let role = match *key {
                "status" => Role::Status,
                "go\\u0061l" => Role::Goal,
                "sessionId" => Role::SessionId,
                "agentName" => Role::AgentName,
                _ => Role::Other,
            };
            (*key, role)
        })
        .collect();
    let all: Vec<(&'static str, Role)> = own.iter().chain(&odd_keys).copied().collect();
    let most = all.len().min(11);
    let keys = prop_oneof![
        // As the API writes them, in either spelling.
        1 => select(vec![own, keys(shape, true)]),
        // Some of them, with odd ones, in any order.
        2 => prop::sample::subsequence(all, 1..=most).prop_shuffle(),
    ];
    (keys, spacing()).prop_flat_map(move |(keys, spacing)| {
        let palettes: Vec<_> = keys
            .iter()
            .map(|&(key, role)| {
                prop::array::uniform4(role.value(vocabulary, odd))
                    .prop_map(move |values| (key, values))
            })
            .collect();
        (palettes, Just(spacing)).prop_map(|(members, spacing)| Layout { members, spacing })
    })
}

/// A body whose sessions are written alike, as an API's serializer writes
/// them: in runs of the same keys in the same order with the same spacing
/// (one run, or two where the API changes shape or vocabulary on the way);
/// only the values change, each drawn from its key's palette of four, so
/// that sessions share values (odd ones included) as well as a layout. The
/// parser reads such sessions against the layout of the one before, and
/// must still read exactly what serde_json reads.
pub fn written_body() -> BoxedStrategy<Vec<u8>> {
    let layouts = (account(), 1..=2usize).prop_flat_map(|(account, runs)| {
        let one = (account.shape(), account.vocabulary(), any::<bool>())
            .prop_flat_map(|(shape, vocabulary, odd)| layout(shape, vocabulary, odd));
        prop::collection::vec(one, runs)
    });
    layouts
        .prop_flat_map(|layouts| {
            let session = (0..layouts.len(), prop::collection::vec(0..4usize, 16));
            (Just(layouts), prop::collection::vec(session, 1..10))
        })
        .prop_map(|(layouts, sessions)| {
            // Each run keeps its layout: the sessions of a run come together.
            let mut sessions = sessions;
            sessions.sort_by_key(|(run, _)| *run);
            let texts: Vec<String> = sessions
                .iter()
                .map(|(run, picks)| {
                    let layout = &layouts[*run];
                    let members: Members = layout
                        .members
                        .iter()
                        .zip(picks)
                        .map(|((key, palette), &pick)| ((*key).to_owned(), palette[pick].clone()))
                        .collect();
                    session_text(&members, layout.spacing)
                })
                .collect();
            let comma = layouts[0].spacing.comma;
            format!("[{}]", texts.join(comma)).into_bytes()
        })
        .boxed()
}

/// A session as a steady account lists it, fetch after fetch: plausible
/// values from narrow palettes (a few ids, agents and times), so that one
/// id comes in several versions; any status of either vocabulary or one
/// neither lists; in either shape; its goal and URLs written with escapes
/// one of two ways (the same fields in other bytes).
pub fn listed_session() -> impl Strategy<Value = String> {
    let statuses = [&KNOWN_STATUSES[..], &[UNLISTED_STATUS]].concat();
    (
        (
            0..SESSION_IDS.len(),
            select(AGENT_NAMES[..3].to_vec()),
            select(statuses),
            0..8u32,
        ),
        (
            select(vec![Shape::Docs, Shape::Sdk]),
            select(vec![GOALS[0], GOALS[3], GOALS[4]]),
            select(vec!["tok-A1b2C3d4E5f6", "tok-Z9y8X7w6V5u4"]),
            select(vec![0u64, 0x5555_5555_5555_5555]),
        ),
    )
        .prop_map(
            |((id, agent, status, minute), (shape, goal, token, style))| {
                let id = SESSION_IDS[id];
                let created_at = format!("2026-11-30T10:{minute:02}:00Z");
                match shape {
                    Shape::Docs => session_text(
                        &docs_members(id, agent, status, &created_at),
                        Spacing::COMPACT,
                    ),
                    Shape::Sdk => {
                        let vnc_url = format!("https://vnc.agi.example/session/{id}?token={token}");
                        let agent_url = format!("https://agent.agi.example/v1/{id}?token={token}");
                        let written = SdkSession {
                            session_id: id,
                            agent_name: agent,
                            status,
                            created_at: &created_at,
                            vnc_url: &vnc_url,
                            agent_url: &agent_url,
                            environment_id: "env-0a1b2c3d",
                            goal,
                            agent_session_type: SESSION_TYPES[id.len() % 3],
                        }
                        .members(style);
                        session_text(&written, Spacing::COMPACT)
                    }
                }
            },
        )
}

/// The members of a session in the docs' shape, every field a plain string.
pub fn docs_members(session_id: &str, agent_name: &str, status: &str, created_at: &str) -> Members {
    [
        ("session_id", session_id),
        ("agent_name", agent_name),
        ("status", status),
        ("created_at", created_at),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), json_string(value, 0)))
    .collect()
}

/// A session in the SDKs' shape, every field given.
#[derive(Debug, Clone, Copy)]
pub struct SdkSession<'a> {
    pub session_id: &'a str,
    pub agent_name: &'a str,
    pub status: &'a str,
    pub created_at: &'a str,
    pub vnc_url: &'a str,
    pub agent_url: &'a str,
    pub environment_id: &'a str,
    pub goal: &'a str,
    pub agent_session_type: &'a str,
}

impl SdkSession<'_> {
    /// Its members in the SDKs' order; the four documented fields written
    /// plainly, the others with escapes as `style` says (see
    /// [`json_string`]).
    pub fn members(&self, style: u64) -> Members {
        keys(Shape::Sdk, false)
            .into_iter()
            .map(|(key, role)| {
                let (value, style) = match role {
                    Role::SessionId => (self.session_id, 0),
                    Role::AgentName => (self.agent_name, 0),
                    Role::Status => (self.status, 0),
                    Role::CreatedAt => (self.created_at, 0),
                    Role::VncUrl => (self.vnc_url, style),
                    Role::AgentUrl => (self.agent_url, style),
                    Role::EnvironmentId => (self.environment_id, style),
                    Role::Goal => (self.goal, style),
                    Role::SessionType | Role::Other => (self.agent_session_type, style),
                };
                (key.to_owned(), json_string(value, style))
            })
            .collect()
    }

    /// It written plainly, serde_json's escapes only.
    pub fn json(&self) -> String {
        session_text(&self.members(0), Spacing::COMPACT)
    }
}
