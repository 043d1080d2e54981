//! What a session is recalled by: a keyed hash of the bytes it was written
//! as, from its `{` to the first `}` after it.
//!
//! A fetch that finds a session written exactly as the previous fetch
//! wrote it counts it from what that fetch kept instead of reading it
//! ([`super::tracker`]). To tell, it needs the session's length and a hash
//! of its bytes, without reading it: the length is taken to the first `}`
//! (a session with an object inside, or a `}` in a string, ends later, and
//! is simply never recalled), and both come from one pass over the bytes,
//! sixteen at a time, which finds the `}` and folds each piece into the
//! hash as it goes. This costs a fraction of reading the session's fields,
//! which is the point.
//!
//! The hash folds each piece with a 64-by-64-bit multiply of the piece's
//! two halves, each mixed with the running value or a secret word. The
//! words are drawn at random per process (from the same source as the
//! maps' seeds), so an API cannot write two sessions that hash alike on
//! purpose: two that differ agree by chance only.

/// The secret words of a hash; random per tracker.
#[derive(Clone, Copy)]
pub(crate) struct Seed([u64; 3]);

/// Secret: never printed.
impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(..)")
    }
}

impl Seed {
    /// Words drawn from `random`, a seeded hasher.
    pub(crate) fn from(random: &impl std::hash::BuildHasher) -> Self {
        Seed([0u8, 1, 2].map(|i| random.hash_one(i)))
    }
}

/// The length of `bytes` up to and with their first `}`, and the hash of
/// those bytes; `None` if they hold no `}`.
///
/// Thirty-two bytes at a time while there is no `}`, folded into two
/// running values (two multiplies that do not wait for each other); then
/// sixteen at a time into the first, up to the `}`.
#[inline]
pub(crate) fn to_first_close(bytes: &[u8], seed: Seed) -> Option<(usize, u64)> {
    let Seed([start, even, odd]) = seed;
    let (mut first, mut second) = (start, start.rotate_left(32));
    let (pairs, _) = bytes.as_chunks::<32>();
    let mut done = 0;
    for pair in pairs {
        let (low, high) = pair.split_at(16);
        let (Ok(low), Ok(high)) = (<&[u8; 16]>::try_from(low), <&[u8; 16]>::try_from(high)) else {
            break;
        };
        if has_close(low, high) {
            break;
        }
        first = fold(first, low, even, odd);
        second = fold(second, high, odd, even);
        done += 32;
    }
    let hash = first ^ second.rotate_left(23);
    let (blocks, tail) = bytes[done..].as_chunks::<16>();
    let mut hash = hash;
    for (index, block) in blocks.iter().enumerate() {
        if let Some(at) = first_close_of_16(block) {
            return Some(finish(hash, block, at, done + index * 16 + at + 1, seed));
        }
        hash = fold(hash, block, even, odd);
    }
    let mut last = [0; 16];
    last[..tail.len()].copy_from_slice(tail);
    let at = first_close_of_16(&last).filter(|&at| at < tail.len())?;
    Some(finish(
        hash,
        &last,
        at,
        done + blocks.len() * 16 + at + 1,
        seed,
    ))
}

/// The hash of the bytes folded so far, then of `block` up to and with its
/// byte `at`, and of the whole length `len`.
#[inline]
fn finish(hash: u64, block: &[u8; 16], at: usize, len: usize, seed: Seed) -> (usize, u64) {
    let Seed([_, even, odd]) = seed;
    // The bytes after the `}` belong to what follows: zeroed. The length,
    // folded in last, tells a run of zeros from a shorter block.
    let keep = u128::MAX >> (8 * (15 - at));
    let kept = (u128::from_le_bytes(*block) & keep).to_le_bytes();
    let hash = fold(hash, &kept, even, odd);
    (len, folded_multiply(hash ^ odd, len as u64 ^ even))
}

#[inline]
fn fold(hash: u64, block: &[u8; 16], even: u64, odd: u64) -> u64 {
    let (low, high) = block.split_at(8);
    let word = |half: &[u8]| u64::from_le_bytes(half.try_into().unwrap_or_default());
    folded_multiply(word(low) ^ even, word(high) ^ hash ^ odd)
}

/// The two halves of the 128-bit product, xored.
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    product as u64 ^ (product >> 64) as u64
}

/// Whether thirty-two bytes hold a `}`.
#[inline]
fn has_close(low: &[u8; 16], high: &[u8; 16]) -> bool {
    close_mask(low) | close_mask(high) != 0
}

/// The index of the first `}` in sixteen bytes.
#[inline]
fn first_close_of_16(block: &[u8; 16]) -> Option<usize> {
    let mask = close_mask(block);
    (mask != 0).then(|| mask.trailing_zeros() as usize)
}

/// A bit for each `}` of sixteen bytes, the first byte's lowest: a vector
/// compare and a byte mask, through `safe_arch` (SSE2, which every x86-64
/// processor has).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn close_mask(block: &[u8; 16]) -> u32 {
    use safe_arch::{cmp_eq_mask_i8_m128i, m128i, move_mask_i8_m128i, set_splat_i8_m128i};
    let close = set_splat_i8_m128i(i8::from_ne_bytes([b'}']));
    move_mask_i8_m128i(cmp_eq_mask_i8_m128i(m128i::from(*block), close)) as u32
}

/// The same, elsewhere.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
fn close_mask(block: &[u8; 16]) -> u32 {
    (block.iter().enumerate())
        .filter(|(_, &byte)| byte == b'}')
        .fold(0, |mask, (at, _)| mask | 1 << at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Seed {
        Seed::from(&foldhash::quality::RandomState::default())
    }

    #[test]
    fn finds_the_first_close_at_every_position_whatever_follows() {
        let seed = seed();
        for len in 1..=70 {
            let mut bytes = vec![b'a'; len - 1];
            bytes.push(b'}');
            let alone = to_first_close(&bytes, seed);
            assert_eq!(alone.map(|(found, _)| found), Some(len), "{len}");
            // More bytes after it, another `}` among them, change nothing.
            for after in [&b"}"[..], b",{\"a\":1}", &[b'x'; 40]] {
                let followed = [&bytes[..], after].concat();
                assert_eq!(to_first_close(&followed, seed), alone, "{len} {after:?}");
            }
            assert_eq!(to_first_close(&bytes[..len - 1], seed), None, "{len}");
        }
    }

    #[test]
    fn every_byte_before_the_close_and_the_length_change_the_hash() {
        let seed = seed();
        for len in [1, 15, 16, 17, 40, 135] {
            let mut bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            bytes.push(b'}');
            let (_, hash) = to_first_close(&bytes, seed).unwrap_or_default();
            for at in 0..len {
                for byte in [0, b'b', b'{', 0xff] {
                    if byte == bytes[at] {
                        continue;
                    }
                    let mut changed = bytes.clone();
                    changed[at] = byte;
                    let (_, other) = to_first_close(&changed, seed).unwrap_or_default();
                    assert_ne!(hash, other, "{len} bytes, {byte:#x} at {at}");
                }
            }
            // Zeros in front make it longer, not the same.
            let longer = [&[0][..], &bytes].concat();
            assert_ne!(to_first_close(&longer, seed).map(|(_, h)| h), Some(hash));
        }
        // Another seed, another hash.
        let bytes = b"{\"session_id\":\"a\"}";
        assert_ne!(
            to_first_close(bytes, seed),
            to_first_close(bytes, self::seed())
        );
    }
}
