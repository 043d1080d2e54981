//! The fuzzer's bytes as two successive fetches' bodies, for the targets
//! that fold more than one fetch.

/// The bytes after the first two, cut where those two bytes (a
/// little-endian `u16`) say: the first fetch's body and the second's.
/// `None` for fewer than two bytes.
pub fn two_bodies(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (split, rest) = data.split_first_chunk::<2>()?;
    let split = usize::from(u16::from_le_bytes(*split)).min(rest.len());
    Some(rest.split_at(split))
}
