//! Recognising a session's agent and status in a few instructions.
//!
//! A body names a few agents and a few statuses, over and over, in no
//! order. Looking each one up by hash and comparing its bytes cost more
//! than the rest of the aggregation, mostly in branches that mispredict as
//! the lengths change from one session to the next. So a string of 4 to 16
//! bytes is read as four 4-byte words, at offsets set by its length, that
//! together cover every byte ([`ShortKey`]): two strings are then equal
//! exactly when their words and lengths are, which compares and hashes as
//! numbers. A small direct-mapped table of (agent, status) pairs by those
//! keys ([`PairCache`]) sits in front of the maps; other strings, and pairs
//! the table does not hold, take the maps.

/// A string of 4 to 16 bytes, as numbers: equal keys, equal strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShortKey {
    words: u128,
    len: usize,
}

impl ShortKey {
    /// The key of `text`, if it is 4 to 16 bytes long.
    pub(crate) fn of(text: &str) -> Option<ShortKey> {
        let bytes = text.as_bytes();
        let len = bytes.len();
        if !(4..=16).contains(&len) {
            return None;
        }
        // Words at 0, step, last - step and last, where step is a third of
        // last rounded up: no gap between two words is wider than a word,
        // and for a given length the offsets are the same.
        let last = len - 4;
        let step = last.div_ceil(3);
        let word = |at: usize| -> Option<u128> {
            let word: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
            Some(u128::from(u32::from_le_bytes(word)))
        };
        let words = word(0)? | word(step)? << 32 | word(last - step)? << 64 | word(last)? << 96;
        Some(ShortKey { words, len })
    }
}

/// Slots of the table: far more than the pairs of a real body (the 35 of
/// the load test's bodies take 34 slots). Made empty for each body (about
/// 100 KiB); the lookups then touch only the slots its pairs take.
const SLOTS: usize = 1024;

/// What a body's pairs stand for (their agent and status ids), by the
/// pair's keys.
/// A pair whose slot holds another one is looked up in the maps and takes
/// the slot: a body with more pairs than slots, or a hostile one, costs
/// lookups but never changes a result.
#[derive(Debug)]
pub(crate) struct PairCache<T> {
    slots: Vec<Option<Slot<T>>>,
}

#[derive(Debug, Clone, Copy)]
struct Slot<T> {
    agent: ShortKey,
    status: ShortKey,
    ids: T,
}

impl<T: Copy> PairCache<T> {
    pub(crate) fn new() -> Self {
        PairCache {
            slots: vec![None; SLOTS],
        }
    }

    /// The ids of the pair, if its slot holds it.
    #[inline]
    pub(crate) fn get(&self, agent: ShortKey, status: ShortKey) -> Option<T> {
        match self.slots.get(slot(agent, status)) {
            Some(Some(kept)) if kept.agent == agent && kept.status == status => Some(kept.ids),
            _ => None,
        }
    }

    /// Keeps the ids of the pair in its slot.
    pub(crate) fn put(&mut self, agent: ShortKey, status: ShortKey, ids: T) {
        if let Some(kept) = self.slots.get_mut(slot(agent, status)) {
            *kept = Some(Slot { agent, status, ids });
        }
    }
}

/// The slot of a pair: each key's halves multiplied by constants apart
/// (a short string's words repeat, so its halves can be equal), the two
/// keys mixed, then the top bits of a multiplicative hash. Not seeded: a
/// collision only costs a lookup.
fn slot(agent: ShortKey, status: ShortKey) -> usize {
    let mix = |key: ShortKey| {
        let (low, high) = (key.words as u64, (key.words >> 64) as u64);
        (low ^ key.len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ high.wrapping_mul(0xc2b2_ae3d_27d4_eb4f).rotate_left(32)
    };
    let mixed = mix(agent) ^ mix(status).rotate_left(17);
    (mixed.wrapping_mul(0xff51_afd7_ed55_8ccd) >> (64 - SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_of_every_byte_of_strings_of_4_to_16_bytes_only() {
        for len in 4..=16 {
            let text = "a".repeat(len);
            let key = ShortKey::of(&text);
            assert!(key.is_some(), "{len}");
            // Changing any one byte changes the key: every byte is read.
            for at in 0..len {
                let mut changed = text.clone().into_bytes();
                changed[at] = b'b';
                let changed = String::from_utf8(changed).unwrap_or_default();
                assert_ne!(ShortKey::of(&changed), key, "{len} bytes, byte {at}");
            }
        }
        for text in ["", "abc", &"a".repeat(17)] {
            assert_eq!(ShortKey::of(text), None, "{text}");
        }
        // The same words at another length are another key.
        assert_ne!(ShortKey::of("abcdabcd"), ShortKey::of("abcdabcdabcd"));
    }

    #[test]
    fn a_pair_is_found_only_as_it_was_kept() {
        let key = |text: &str| ShortKey::of(text).unwrap_or_else(|| panic!("{text}"));
        let mut cache = PairCache::new();
        let (agent, status) = (key("agi-0-fast"), key("running"));
        assert_eq!(cache.get(agent, status), None);
        cache.put(agent, status, (3, 2));
        assert_eq!(cache.get(agent, status), Some((3, 2)));
        assert_eq!(cache.get(status, agent), None);
        assert_eq!(cache.get(agent, key("runninG")), None);
        // More pairs than slots: whatever a slot holds, it is the pair asked for.
        let names: Vec<String> = (0..2 * SLOTS).map(|i| format!("agent-{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            cache.put(key(name), status, (i, 2));
        }
        let mut found = 0;
        for (i, name) in names.iter().enumerate() {
            match cache.get(key(name), status) {
                None => {}
                Some(ids) => {
                    assert_eq!(ids, (i, 2), "{name}");
                    found += 1;
                }
            }
        }
        assert!(found > SLOTS / 2, "{found}");
    }
}
