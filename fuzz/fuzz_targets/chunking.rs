//! Chunking never changes a result: arbitrary bytes read by the stream in
//! chunks the fuzzer chooses (the first byte picks their sizes, 1 to 64
//! bytes) give exactly the sessions and the verdict, error position
//! included, that reading them whole gives.

#![no_main]

use agi_exporter::{SessionStream, parse_sessions};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/it/support/serde_model.rs"]
#[allow(dead_code)]
mod serde_model;

use serde_model::Collect;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    let mut whole = Collect::default();
    let whole_verdict = parse_sessions(body, &mut whole).map_err(|e| e.to_string());

    let mut chunked = Collect::default();
    let mut stream = SessionStream::new(&mut chunked);
    let mut rest = body;
    let mut size = usize::from(seed % 64) + 1;
    let mut fed = Ok(());
    while !rest.is_empty() && fed.is_ok() {
        let (chunk, after) = rest.split_at(size.min(rest.len()));
        fed = stream.feed(chunk).map_err(|e| e.to_string());
        rest = after;
        size = size * 7 % 64 + 1;
    }
    let chunked_verdict = fed.and_then(|()| stream.finish().map_err(|e| e.to_string()));
    assert_eq!(
        chunked_verdict,
        whole_verdict,
        "{:?}",
        String::from_utf8_lossy(body)
    );
    assert_eq!(chunked, whole);
});
