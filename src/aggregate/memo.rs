//! What a session is recalled by: a keyed hash of the bytes it was written
//! as, from its `{` to its `}`, and their length.
//!
//! A fetch that finds a session written exactly as the previous fetch
//! wrote it counts it from what that fetch kept instead of reading it
//! ([`super::tracker`]). The previous fetch kept each session's length and
//! the hash of its bytes; to tell, this fetch hashes as many bytes where
//! the next session starts and compares. That costs a fraction of reading
//! the session's fields, which is the point.
//!
//! The hash folds sixteen bytes at a time with a 64-by-64-bit multiply of
//! their two halves, each mixed with the running value or a secret word.
//! The words are drawn at random per process (from the same source as the
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

/// The hash of `bytes` and of their length.
///
/// Thirty-two bytes at a time into two running values (two multiplies
/// that do not wait for each other) while more than thirty-two are left,
/// then the last thirty-two, which may overlap bytes folded already: for a
/// given length, every byte lands in a block at a place of its own. Fewer
/// than thirty-two bytes are read as two sixteen-byte blocks that overlap,
/// or one padded with zeros.
#[inline]
pub(crate) fn hash(bytes: &[u8], seed: Seed) -> u64 {
    let Seed([start, even, odd]) = seed;
    let len = bytes.len();
    let (mut first, mut second) = (start, start.rotate_left(32));
    if len >= 32 {
        let mut rest = bytes;
        while let Some((pair, after)) = rest.split_first_chunk::<32>()
            && !after.is_empty()
        {
            (first, second) = fold_pair(first, second, pair, even, odd);
            rest = after;
        }
        if let Some(last) = bytes.last_chunk::<32>() {
            (first, second) = fold_pair(first, second, last, even, odd);
        }
    } else if let (Some(head), Some(tail)) = (bytes.first_chunk::<16>(), bytes.last_chunk::<16>()) {
        first = fold(first, head, even, odd);
        second = fold(second, tail, odd, even);
    } else {
        let mut block = [0; 16];
        block[..len].copy_from_slice(bytes);
        first = fold(first, &block, even, odd);
    }
    let hash = first ^ second.rotate_left(23);
    folded_multiply(hash ^ odd, len as u64 ^ even)
}

/// Thirty-two bytes folded into the two running values.
#[inline]
fn fold_pair(first: u64, second: u64, pair: &[u8; 32], even: u64, odd: u64) -> (u64, u64) {
    let (low, high) = pair.split_at(16);
    let block = |half: &[u8]| <[u8; 16]>::try_from(half).unwrap_or_default();
    (
        fold(first, &block(low), even, odd),
        fold(second, &block(high), odd, even),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Seed {
        Seed::from(&foldhash::quality::RandomState::default())
    }

    #[test]
    fn every_byte_and_the_length_change_the_hash() {
        let seed = seed();
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 40, 64, 65, 135] {
            let bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let hashed = hash(&bytes, seed);
            for at in 0..len {
                for byte in [0, b'b', b'{', 0xff] {
                    if byte == bytes[at] {
                        continue;
                    }
                    let mut changed = bytes.clone();
                    changed[at] = byte;
                    assert_ne!(
                        hashed,
                        hash(&changed, seed),
                        "{len} bytes, {byte:#x} at {at}"
                    );
                }
            }
            // Zeros in front or behind make it longer, not the same.
            let longer = [&[0][..], &bytes].concat();
            assert_ne!(hash(&longer, seed), hashed, "{len}");
            let longer = [&bytes[..], &[0]].concat();
            assert_ne!(hash(&longer, seed), hashed, "{len}");
            assert_eq!(hash(&bytes, seed), hashed, "{len}");
        }
        // Another seed, another hash.
        let bytes = b"{\"session_id\":\"a\"}";
        assert_ne!(hash(bytes, seed), hash(bytes, self::seed()));
    }
}
