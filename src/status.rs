//! The statuses a session can be in, and which of them end it.
//!
//! The API speaks two vocabularies. Its docs list `initializing, ready,
//! running, paused, completed, error, terminated`; its official SDKs list
//! `ready, running, waiting_for_input, paused, finished, error`. A real
//! account may speak either, or a mix while the API changes, so both are
//! first-class: the nine [`KnownStatus`]es are always exported (at 0 when
//! none), in the order of [`KnownStatus::ALL`].
//!
//! Statuses are open-ended: any other value is counted under its own name.
//! Which statuses end a session is the user's to set
//! (`--sessions.final-statuses`, [`StatusModel`]): by default `completed,
//! finished, error, terminated`. Every other status, known or not, is live.

use std::sync::Arc;

/// A status one of the API's vocabularies names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum KnownStatus {
    Initializing,
    Ready,
    Running,
    WaitingForInput,
    Paused,
    Completed,
    Finished,
    Error,
    Terminated,
}

impl KnownStatus {
    /// Every known status, in the order the exposition lists them: the
    /// steps of a session's life, then the ways it ends.
    pub(crate) const ALL: [KnownStatus; 9] = [
        KnownStatus::Initializing,
        KnownStatus::Ready,
        KnownStatus::Running,
        KnownStatus::WaitingForInput,
        KnownStatus::Paused,
        KnownStatus::Completed,
        KnownStatus::Finished,
        KnownStatus::Error,
        KnownStatus::Terminated,
    ];

    /// The `status` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KnownStatus::Initializing => "initializing",
            KnownStatus::Ready => "ready",
            KnownStatus::Running => "running",
            KnownStatus::WaitingForInput => "waiting_for_input",
            KnownStatus::Paused => "paused",
            KnownStatus::Completed => "completed",
            KnownStatus::Finished => "finished",
            KnownStatus::Error => "error",
            KnownStatus::Terminated => "terminated",
        }
    }

    /// The known status spelled `text`, if any. A match compiles to a
    /// switch on the length: cheaper, once per session, than comparing with
    /// each name in turn.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "initializing" => KnownStatus::Initializing,
            "ready" => KnownStatus::Ready,
            "running" => KnownStatus::Running,
            "waiting_for_input" => KnownStatus::WaitingForInput,
            "paused" => KnownStatus::Paused,
            "completed" => KnownStatus::Completed,
            "finished" => KnownStatus::Finished,
            "error" => KnownStatus::Error,
            "terminated" => KnownStatus::Terminated,
            _ => return None,
        })
    }

    /// Its place in [`Self::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Whether a session in it is under way whatever the user configures:
    /// these can never be named final.
    fn is_live(self) -> bool {
        matches!(
            self,
            KnownStatus::Initializing
                | KnownStatus::Ready
                | KnownStatus::Running
                | KnownStatus::WaitingForInput
                | KnownStatus::Paused
        )
    }
}

/// What a status means for a session's life, as the lifecycle families
/// read it (docs/metrics.md, "Reading the lifecycle histograms").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Not started yet: `initializing`, `ready`. A later `running` is a
    /// start.
    Starting,
    /// `running`.
    Running,
    /// Started, and not running now: `waiting_for_input` (the agent asked
    /// its user something), `paused`. A later `running` is not a start.
    Started,
    /// Another live status, one neither vocabulary names.
    Live,
    /// A final status: its place in [`StatusModel::finals`].
    Final(usize),
}

impl Stage {
    /// Whether a session in this stage is live (has an age).
    pub(crate) fn is_live(self) -> bool {
        !matches!(self, Stage::Final(_))
    }
}

/// Statuses named final beyond the known ones, at most: each is a series
/// per agent in four families, for the life of the process.
pub(crate) const MAX_OTHER_FINALS: usize = 10;

/// The statuses that end a session, as `--sessions.final-statuses` sets
/// them; every other status is live. Cheap to clone (one shared list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusModel {
    /// The final statuses: the known ones in [`KnownStatus::ALL`]'s order,
    /// then the others by name.
    finals: Arc<[String]>,
}

impl Default for StatusModel {
    /// `completed, finished, error, terminated`: the docs' and the SDKs'.
    fn default() -> Self {
        let finals = [
            KnownStatus::Completed,
            KnownStatus::Finished,
            KnownStatus::Error,
            KnownStatus::Terminated,
        ];
        StatusModel {
            finals: finals.map(|s| s.as_str().to_owned()).into(),
        }
    }
}

impl StatusModel {
    /// The flag's default, as docs/configuration.md and `--help` show it.
    pub(crate) const DEFAULT_FLAG: &'static str = "completed,finished,error,terminated";

    /// The model from a comma-separated list of final statuses. Refuses
    /// what cannot be meant: an empty list or name, a status that is live
    /// by the API's own meaning (`running`...), a list without `error`
    /// (the error ratio is `error` over the final statuses), a name used
    /// twice, a reserved label value, or one no status label could hold.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut known = Vec::new();
        let mut others: Vec<String> = Vec::new();
        for name in list.split(',').map(str::trim) {
            if name.is_empty() {
                return Err("a final status must not be empty".to_owned());
            }
            if known.iter().any(|k: &KnownStatus| k.as_str() == name)
                || others.iter().any(|o| o == name)
            {
                return Err(format!("{name:?} is listed twice"));
            }
            match KnownStatus::parse(name) {
                Some(status) if status.is_live() => {
                    return Err(format!(
                        "{name:?} is a live status: a session in it is under way, not ended"
                    ));
                }
                Some(status) => known.push(status),
                None => {
                    check_other_final(name)?;
                    others.push(name.to_owned());
                }
            }
        }
        if !known.contains(&KnownStatus::Error) {
            return Err(
                "the final statuses must include \"error\" (the error ratio is error over the final statuses)"
                    .to_owned(),
            );
        }
        if others.len() > MAX_OTHER_FINALS {
            return Err(format!(
                "at most {MAX_OTHER_FINALS} final statuses besides the known ones"
            ));
        }
        known.sort();
        others.sort();
        let finals = known.iter().map(|s| s.as_str().to_owned()).chain(others);
        Ok(StatusModel {
            finals: finals.collect(),
        })
    }

    /// The final statuses, known ones first in their order, then the others
    /// by name: the `status` values of `agi_session_duration_seconds`.
    pub(crate) fn finals(&self) -> &[String] {
        &self.finals
    }

    /// The statuses every session family starts at 0: the known ones, then
    /// the other final statuses.
    pub(crate) fn fixed(&self) -> Vec<&str> {
        let known = KnownStatus::ALL.iter().map(|s| s.as_str());
        let others = self.finals.iter().map(String::as_str);
        known
            .chain(others.filter(|s| KnownStatus::parse(s).is_none()))
            .collect()
    }

    /// The known statuses that are live: the oldest-age families start them
    /// at 0.
    pub(crate) fn known_live(&self) -> impl Iterator<Item = KnownStatus> + '_ {
        KnownStatus::ALL
            .into_iter()
            .filter(|s| !self.is_final(s.as_str()))
    }

    /// Whether `status` ends a session.
    pub(crate) fn is_final(&self, status: &str) -> bool {
        self.final_index(status).is_some()
    }

    fn final_index(&self, status: &str) -> Option<usize> {
        self.finals.iter().position(|s| s == status)
    }

    /// What `status` means for a session's life.
    pub(crate) fn stage(&self, status: &str) -> Stage {
        if let Some(index) = self.final_index(status) {
            return Stage::Final(index);
        }
        match KnownStatus::parse(status) {
            Some(KnownStatus::Initializing | KnownStatus::Ready) => Stage::Starting,
            Some(KnownStatus::Running) => Stage::Running,
            Some(KnownStatus::WaitingForInput | KnownStatus::Paused) => Stage::Started,
            _ => Stage::Live,
        }
    }
}

/// A final status the API's vocabularies do not name (`cancelled`, say):
/// a plain word a status label can hold whole, not a value the exporter
/// gives a meaning of its own, and not a known status spelled otherwise
/// (statuses are matched as the API writes them: `Running` is not
/// `running`, and naming it would look like a mistake).
fn check_other_final(name: &str) -> Result<(), String> {
    let normalised = name.to_ascii_lowercase().replace('-', "_");
    if let Some(known) = KnownStatus::parse(&normalised) {
        return Err(format!(
            "{name:?} is not how the API writes {:?} (statuses are matched exactly)",
            known.as_str()
        ));
    }
    let plain = name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !plain {
        return Err(format!(
            "{name:?} is not a status name: use at most 64 letters, digits, '_', '-' or '.'"
        ));
    }
    if matches!(name, "unknown" | "other") {
        return Err(format!(
            "{name:?} is a value the exporter gives its own meaning"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_status_reads_back_from_its_name_at_its_index() {
        for (index, status) in KnownStatus::ALL.into_iter().enumerate() {
            assert_eq!(KnownStatus::parse(status.as_str()), Some(status));
            assert_eq!(status.index(), index);
        }
        assert_eq!(KnownStatus::parse("Running"), None);
        assert_eq!(KnownStatus::parse("cancelled"), None);
    }

    #[test]
    fn by_default_both_vocabularies_end_in_completed_finished_error_and_terminated() {
        let model = StatusModel::default();
        assert_eq!(
            StatusModel::parse(StatusModel::DEFAULT_FLAG).as_ref(),
            Ok(&model)
        );
        assert_eq!(
            model.finals(),
            ["completed", "finished", "error", "terminated"]
        );
        let live: Vec<&str> = model.known_live().map(KnownStatus::as_str).collect();
        assert_eq!(
            live,
            [
                "initializing",
                "ready",
                "running",
                "waiting_for_input",
                "paused"
            ]
        );
        assert!(!model.is_final("cancelled"), "an unknown status is live");
        assert_eq!(model.fixed().len(), 9);
    }

    #[test]
    fn each_status_has_the_stage_its_meaning_gives() {
        let model = StatusModel::default();
        let stage = |s| model.stage(s);
        assert_eq!(stage("initializing"), Stage::Starting);
        assert_eq!(stage("ready"), Stage::Starting);
        assert_eq!(stage("running"), Stage::Running);
        assert_eq!(stage("waiting_for_input"), Stage::Started);
        assert_eq!(stage("paused"), Stage::Started);
        assert_eq!(stage("queued"), Stage::Live);
        assert_eq!(stage("completed"), Stage::Final(0));
        assert_eq!(stage("finished"), Stage::Final(1));
        assert_eq!(stage("error"), Stage::Final(2));
        assert_eq!(stage("terminated"), Stage::Final(3));
    }

    #[test]
    fn other_final_statuses_follow_the_known_ones_and_are_always_exported() {
        let model = StatusModel::parse(" error , cancelled,finished,aborted ");
        let model = model.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            model.finals(),
            ["finished", "error", "aborted", "cancelled"]
        );
        assert_eq!(model.stage("cancelled"), Stage::Final(3));
        // Known statuses not named final are live, like any other.
        assert!(!model.is_final("completed"));
        assert!(model.known_live().any(|s| s == KnownStatus::Completed));
        assert_eq!(&model.fixed()[9..], ["aborted", "cancelled"]);
    }

    #[test]
    fn a_list_that_cannot_be_meant_is_refused_with_the_reason() {
        let refused = |list: &str| StatusModel::parse(list).err().unwrap_or_default();
        assert!(refused("").contains("empty"), "{}", refused(""));
        assert!(refused("error,,completed").contains("empty"));
        assert!(refused("error,running").contains("live status"));
        assert!(refused("error,waiting_for_input").contains("live status"));
        assert!(refused("completed,finished").contains("must include \"error\""));
        assert!(refused("error,error").contains("twice"));
        assert!(refused("error,can celled").contains("not a status name"));
        assert!(refused("error,\"x\"").contains("not a status name"));
        assert!(refused("error,unknown").contains("own meaning"));
        for variant in [
            "Running",
            "WAITING_FOR_INPUT",
            "waiting-for-input",
            "Finished",
        ] {
            let reason = refused(&format!("error,{variant}"));
            assert!(reason.contains("matched exactly"), "{variant}: {reason}");
        }
        assert!(refused(&format!("error,{}", "x".repeat(65))).contains("not a status name"));
        let many: Vec<String> = (0..=MAX_OTHER_FINALS).map(|i| format!("s{i}")).collect();
        assert!(refused(&format!("error,{}", many.join(","))).contains("at most"));
    }
}
