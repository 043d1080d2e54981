//! The parser against serde_json on arbitrary bytes: the same verdict and
//! the same four fields per session as serde_json reading the body with the
//! contract's serde model (`tests/it/support/serde_model.rs`, shared with the
//! property tests).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/it/support/serde_model.rs"]
#[allow(dead_code)]
mod serde_model;

fuzz_target!(|data: &[u8]| {
    let ours = serde_model::parsed(data);
    let reference = serde_model::reference(data);
    assert_eq!(
        ours,
        reference,
        "the parser and serde_json disagree on {:?}",
        String::from_utf8_lossy(data)
    );
});
