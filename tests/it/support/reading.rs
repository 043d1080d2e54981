//! A sink that has every session read: the fold that recalls none, which a
//! fold that recalls unchanged sessions must come to exactly. Shared with
//! the parse bench and the `recall` fuzz target.

use agi_exporter::{SessionRecord, SessionSink};

/// Hands `S` every session to read, and recalls none.
pub struct ReadEverything<'a, S>(pub &'a mut S);

impl<S: SessionSink> SessionSink for ReadEverything<'_, S> {
    fn session(&mut self, session: &SessionRecord<'_>) {
        self.0.session(session);
    }

    fn session_written(&mut self, session: &SessionRecord<'_>, written: &[u8]) {
        self.0.session_written(session, written);
    }
}
