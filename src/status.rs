//! The statuses the API documents, and what the exporter makes of each.
//!
//! Statuses are open-ended: the SDKs also send `waiting_for_input` and
//! `finished`, and any other value is counted under its own name. The seven
//! documented ones are always exported (at 0 when none), and three of them
//! end a session; every other status, documented or not, is live.

/// A status the API documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum DocumentedStatus {
    Initializing,
    Ready,
    Running,
    Paused,
    Completed,
    Error,
    Terminated,
}

impl DocumentedStatus {
    /// Every documented status, in the order the API documents them (and
    /// the exposition lists them).
    pub(crate) const ALL: [DocumentedStatus; 7] = [
        DocumentedStatus::Initializing,
        DocumentedStatus::Ready,
        DocumentedStatus::Running,
        DocumentedStatus::Paused,
        DocumentedStatus::Completed,
        DocumentedStatus::Error,
        DocumentedStatus::Terminated,
    ];

    /// The `status` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DocumentedStatus::Initializing => "initializing",
            DocumentedStatus::Ready => "ready",
            DocumentedStatus::Running => "running",
            DocumentedStatus::Paused => "paused",
            DocumentedStatus::Completed => "completed",
            DocumentedStatus::Error => "error",
            DocumentedStatus::Terminated => "terminated",
        }
    }

    /// The documented status spelled `text`, if any. A match compiles to a
    /// switch on the length: cheaper, once per session, than comparing with
    /// each name in turn.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "initializing" => DocumentedStatus::Initializing,
            "ready" => DocumentedStatus::Ready,
            "running" => DocumentedStatus::Running,
            "paused" => DocumentedStatus::Paused,
            "completed" => DocumentedStatus::Completed,
            "error" => DocumentedStatus::Error,
            "terminated" => DocumentedStatus::Terminated,
            _ => return None,
        })
    }

    /// Its place in [`Self::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Whether it ends a session: `completed`, `error`, `terminated`.
    pub(crate) fn is_final(self) -> bool {
        matches!(
            self,
            DocumentedStatus::Completed | DocumentedStatus::Error | DocumentedStatus::Terminated
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_name_at_its_index() {
        for (index, status) in DocumentedStatus::ALL.into_iter().enumerate() {
            assert_eq!(DocumentedStatus::parse(status.as_str()), Some(status));
            assert_eq!(status.index(), index);
        }
        assert_eq!(DocumentedStatus::parse("waiting_for_input"), None);
        assert_eq!(DocumentedStatus::parse("Running"), None);
    }

    #[test]
    fn completed_error_and_terminated_are_final() {
        let finals: Vec<_> = DocumentedStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .map(DocumentedStatus::as_str)
            .collect();
        assert_eq!(finals, ["completed", "error", "terminated"]);
    }
}
