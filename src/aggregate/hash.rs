//! The keyed hash sessions are told apart by: a session's id, and the
//! bytes it was written as (by which the next fetch recalls it instead of
//! reading it).
//!
//! NH with 64-bit words, the hash UMAC is built on, over a 16-byte block
//! holding the length and then the bytes, 16 at a time (the last block is
//! the last 16 bytes, overlapping the one before; fewer than 16 bytes in
//! all are padded with zeros): the sum, modulo 2^128, of `(m + k) * (m' +
//! k')` for each pair of 64-bit words `m, m'` and key words `k, k'`. For a
//! given length, each byte lands at a place of its own in the blocks, so
//! two different strings of one length give different blocks. Vector
//! multiply-shift then takes the 128-bit sum to 64 bits: the top half of
//! `a * high + a' * low + b` modulo 2^128, for its two 64-bit halves and
//! 128-bit key words `a, a', b`, a strongly universal step (two different
//! sums give the same 64 bits with probability 2^-64). The key words are
//! drawn from the operating system's randomness, once per process; they
//! never leave it.
//!
//! The odds, for two different byte strings chosen without knowing the
//! keys (an API never sees them): NH makes them collide with probability at
//! most 2^-63 (2^-64 for strings of as many blocks, the NH theorem; 2^-63
//! otherwise, through the key words of the longer one's last block, which
//! the shorter does not use), and the final step 2^-64 more. So two
//! different sessions hash alike with probability below 2^-62. It is not a cryptographic hash: an adversary who could see hash
//! values could learn about the keys, and nothing outside the process ever
//! sees one.
//!
//! The key covers [`MAX_LEN`] bytes: a longer string is hashed by its first
//! [`MAX_LEN`] bytes and its length.

use std::sync::OnceLock;

/// The most bytes a hash covers.
pub(crate) const MAX_LEN: usize = (BLOCKS - 1) * 16;

/// Blocks of 16 bytes the key covers, the length's included.
const BLOCKS: usize = 4096;

/// The key words of the process's hash.
pub(crate) struct KeyedHash {
    /// Two words per block.
    nh: Box<[[u64; 2]]>,
    /// The final step's words `a, a', b`.
    fold: [u128; 3],
}

/// Secret: never printed.
impl std::fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHash(..)")
    }
}

impl KeyedHash {
    /// The process's hash, its keys drawn from the operating system the
    /// first time it is asked for.
    pub(crate) fn process() -> &'static KeyedHash {
        static KEYS: OnceLock<KeyedHash> = OnceLock::new();
        KEYS.get_or_init(KeyedHash::from_os)
    }

    /// A hash keyed by the operating system's randomness. Should it fail
    /// (no source of randomness at all), std's per-process random keys,
    /// which come from the same source when there is one, are stretched.
    fn from_os() -> Self {
        let mut bytes = vec![0u8; 8 * (2 * BLOCKS + 6)];
        let words: Vec<u64> = if getrandom::fill(&mut bytes).is_ok() {
            (bytes.chunks_exact(8))
                .map(|word| u64::from_le_bytes(word.try_into().unwrap_or_default()))
                .collect()
        } else {
            tracing::warn!("no randomness from the operating system; keying the hash from std's");
            let state = std::collections::hash_map::RandomState::new();
            (0..2 * BLOCKS + 6)
                .map(|i| std::hash::BuildHasher::hash_one(&state, i))
                .collect()
        };
        KeyedHash::from_words(&words)
    }

    /// A hash with these key words: `2 * BLOCKS` for NH, then 6 more.
    fn from_words(words: &[u64]) -> Self {
        let nh = words
            .chunks_exact(2)
            .take(BLOCKS)
            .map(|pair| [pair[0], pair[1]])
            .collect();
        let word = |i: usize| u128::from(words.get(2 * BLOCKS + i).copied().unwrap_or(1));
        let fold = [0, 2, 4].map(|i| word(i) << 64 | word(i + 1));
        KeyedHash { nh, fold }
    }

    /// The hash of `bytes` (of their first [`MAX_LEN`] and their length).
    #[inline]
    pub(crate) fn of(&self, bytes: &[u8]) -> u64 {
        let len = bytes.len();
        let covered = &bytes[..len.min(MAX_LEN)];
        let Some((length_key, keys)) = self.nh.split_first() else {
            return 0;
        };
        let (blocks, rest) = covered.as_chunks::<16>();
        // Two sums, so that one block's multiply need not wait for the
        // sum of the one before it.
        let mut sums = [nh_block(&(len as u128).to_le_bytes(), length_key), 0];
        let (pairs, odd) = blocks.as_chunks::<2>();
        for (pair, keys) in pairs.iter().zip(keys.as_chunks::<2>().0) {
            sums[0] = sums[0].wrapping_add(nh_block(&pair[0], &keys[0]));
            sums[1] = sums[1].wrapping_add(nh_block(&pair[1], &keys[1]));
        }
        // At most one whole block left, then the rest padded with zeros
        // (the keys cover every block of MAX_LEN bytes).
        let mut next = 2 * pairs.len();
        for block in odd {
            if let Some(key) = keys.get(next) {
                sums[0] = sums[0].wrapping_add(nh_block(block, key));
            }
            next += 1;
        }
        // The rest: the last 16 bytes, overlapping the block before (every
        // byte is still in a block at a place set by the length, which is
        // hashed), or, under 16 bytes in all, the bytes padded with zeros.
        if !rest.is_empty() {
            let last = match covered.last_chunk::<16>() {
                Some(last) => *last,
                None => {
                    let mut padded = [0u8; 16];
                    for (to, from) in padded.iter_mut().zip(rest) {
                        *to = *from;
                    }
                    padded
                }
            };
            if let Some(key) = keys.get(next) {
                sums[1] = sums[1].wrapping_add(nh_block(&last, key));
            }
        }
        self.fold(sums[0].wrapping_add(sums[1]))
    }

    /// The 128-bit sum to 64 bits: the top half of `a * high + a' * low +
    /// b` modulo 2^128.
    #[inline]
    fn fold(&self, sum: u128) -> u64 {
        let [a, a2, b] = self.fold;
        let (high, low) = (sum >> 64, sum & u128::from(u64::MAX));
        let mixed = a
            .wrapping_mul(high)
            .wrapping_add(a2.wrapping_mul(low))
            .wrapping_add(b);
        (mixed >> 64) as u64
    }
}

/// One block's term: `(m + k) * (m' + k')` for its two words `m, m'`,
/// words added modulo 2^64.
#[inline]
fn nh_block(block: &[u8; 16], key: &[u64; 2]) -> u128 {
    let (low, high) = block.split_at(8);
    let word = |half: &[u8]| u64::from_le_bytes(half.try_into().unwrap_or_default());
    u128::from(word(low).wrapping_add(key[0])) * u128::from(word(high).wrapping_add(key[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash() -> KeyedHash {
        KeyedHash::from_os()
    }

    #[test]
    fn every_byte_and_the_length_change_the_hash() {
        let hash = hash();
        for len in [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 135, 520] {
            let bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let hashed = hash.of(&bytes);
            assert_eq!(hash.of(&bytes), hashed, "the same bytes, the same hash");
            for at in 0..len {
                for byte in [0, b'b', b'{', 0xff] {
                    if byte == bytes[at] {
                        continue;
                    }
                    let mut changed = bytes.clone();
                    changed[at] = byte;
                    assert_ne!(hash.of(&changed), hashed, "{len} bytes, {byte:#x} at {at}");
                }
            }
            // Zeros in front or behind make it longer, not the same: the
            // length is hashed, not only the padded blocks.
            assert_ne!(hash.of(&[&[0][..], &bytes].concat()), hashed, "{len}");
            assert_ne!(hash.of(&[&bytes[..], &[0]].concat()), hashed, "{len}");
        }
    }

    #[test]
    fn the_keys_are_drawn_anew_for_each_hash() {
        let bytes = br#"{"session_id":"a","status":"finished"}"#;
        assert_ne!(hash().of(bytes), hash().of(bytes));
        assert_eq!(
            KeyedHash::process().of(bytes),
            KeyedHash::process().of(bytes)
        );
    }

    #[test]
    fn a_string_longer_than_the_key_is_hashed_by_its_start_and_its_length() {
        let hash = hash();
        let long = vec![b'x'; MAX_LEN + 100];
        let mut other = long.clone();
        other[MAX_LEN + 50] = b'y';
        assert_eq!(hash.of(&long), hash.of(&other), "past the key: the same");
        other[MAX_LEN - 1] = b'y';
        assert_ne!(hash.of(&long), hash.of(&other));
        assert_ne!(hash.of(&long), hash.of(&long[..MAX_LEN + 99]));
    }
}
