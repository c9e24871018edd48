//! A bounded table of `u32` values by 128-bit key, organised as a CPU cache is: each key has
//! one set of four entries, one 64-byte line of memory, and a set keeps its entries from the
//! most to the least recently used, dropping the last for a new key.
//!
//! What a rule run's decisions are cached in (`cache.rs`). Those tables are the largest an
//! evaluator has (up to a megabyte each, well past the CPU's L2 cache), and every row looks
//! the title up in them: a lookup here reads one line (the table is a vector of 64-byte sets,
//! which the allocator aligns at these sizes in practice), where two generations of hash
//! tables read a control group and an entry in the young one, then again in the old one for
//! a key that is not young (every miss).
//!
//! A table starts small and doubles once it is half full, up to its bound: a run that sees
//! few values (a level column) keeps a few kilobytes, and the title run reaches its bound
//! within the first 100,000 rows (two workers' too), so peak memory does not move after. Allocated whole at its bound,
//! a table was resident or not depending on whether the allocator handed out fresh (untouched)
//! or reused (cleared) memory, and two workers' peak memory moved by 9 MiB from run to run.

/// Entries per set: four 16-byte entries fill a 64-byte cache line.
const WAYS: usize = 4;

/// Sets a table starts with (4 KiB).
const FIRST_SETS: usize = 64;

/// A set: per entry, the key's low 64 bits (the index), then the 32 bits more it compares
/// (as `cache::Table`'s entries) above the value plus one; all zeros is an empty entry.
type Set = [u64; 2 * WAYS];

pub(super) struct Ways {
    sets: Vec<Set>,
    /// Sets the table may grow to.
    max_sets: usize,
    /// Entries held.
    held: usize,
}

/// The second word of an entry.
fn tag(check: u32, value: u32) -> u64 {
    (u64::from(check) << 32) | u64::from(value.wrapping_add(1))
}

/// The way of `set` that holds `index` and `check`.
fn find(set: &Set, index: u64, check: u32) -> Option<usize> {
    (0..WAYS).find(|&way| {
        let second = set[2 * way + 1];
        set[2 * way] == index && (second >> 32) as u32 == check && second as u32 != 0
    })
}

impl Ways {
    /// A table that holds at most `entries` entries (rounded up to a power of two sets).
    pub(super) fn new(entries: usize) -> Self {
        let max_sets = entries.div_ceil(WAYS).next_power_of_two();
        Self {
            sets: vec![[0; 2 * WAYS]; FIRST_SETS.min(max_sets)],
            max_sets,
            held: 0,
        }
    }

    fn set(&mut self, index: u64) -> Option<&mut Set> {
        let mask = self.sets.len() - 1;
        // The index is a hash: its low bits pick the set.
        self.sets.get_mut(index as usize & mask)
    }

    /// The value under `key`, which becomes its set's most recently used.
    pub(super) fn get(&mut self, key: u128) -> Option<u32> {
        let (index, check) = split(key);
        let set = self.set(index)?;
        let way = find(set, index, check)?;
        let value = (set[2 * way + 1] as u32).wrapping_sub(1);
        set[..2 * way + 2].rotate_right(2);
        Some(value)
    }

    /// Stores `value` under `key` (in place of its old value, or of its set's least recently
    /// used entry). `value` must not be `u32::MAX`.
    pub(super) fn insert(&mut self, key: u128, value: u32) {
        debug_assert_ne!(value, u32::MAX);
        if 2 * self.held >= WAYS * self.sets.len() && self.sets.len() < self.max_sets {
            self.grow();
        }
        let (index, check) = split(key);
        let Some(set) = self.set(index) else {
            return;
        };
        let found = find(set, index, check);
        let filled = found.is_none() && set[2 * WAYS - 1] as u32 == 0;
        let way = found.unwrap_or(WAYS - 1);
        set[..2 * way + 2].rotate_right(2);
        set[0] = index;
        set[1] = tag(check, value);
        self.held += usize::from(filled);
    }

    /// Twice the sets, with every entry moved to its new set in the same order of use.
    fn grow(&mut self) {
        let doubled = vec![[0; 2 * WAYS]; 2 * self.sets.len()];
        let old = std::mem::replace(&mut self.sets, doubled);
        let mask = self.sets.len() - 1;
        for set in &old {
            // Least recently used first, so that each new set ends most recent first.
            for entry in set.chunks_exact(2).rev() {
                let (index, second) = (entry[0], entry[1]);
                if second as u32 == 0 {
                    continue;
                }
                if let Some(new) = self.sets.get_mut(index as usize & mask) {
                    new.rotate_right(2);
                    new[0] = index;
                    new[1] = second;
                }
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.sets.fill([0; 2 * WAYS]);
        self.held = 0;
    }

    /// Entries held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.sets
            .iter()
            .flat_map(|set| set.chunks_exact(2))
            .filter(|entry| entry[1] as u32 != 0)
            .count()
    }
}

/// A 128-bit key as a table's index and the bits it compares.
pub(super) fn split(key: u128) -> (u64, u32) {
    (key as u64, (key >> 64) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key whose low bits pick set `set` of a table of `sets` sets.
    fn key(set: u64, n: u64) -> u128 {
        (u128::from(n) << 64) | u128::from(set + (n << 20))
    }

    #[test]
    fn a_set_keeps_its_four_most_recently_used_keys() {
        let mut ways = Ways::new(64);
        for n in 0..4 {
            ways.insert(key(3, n), n as u32);
        }
        assert_eq!(ways.get(key(3, 0)), Some(0)); // now the most recently used
        ways.insert(key(3, 4), 4); // drops key 1, the least recently used
        assert_eq!(ways.get(key(3, 1)), None);
        for n in [0, 2, 3, 4] {
            assert_eq!(ways.get(key(3, n)), Some(n as u32), "key {n}");
        }
        // Other sets are untouched; a stored key takes a new value in place.
        assert_eq!(ways.get(key(4, 0)), None);
        ways.insert(key(3, 2), 20);
        assert_eq!(ways.get(key(3, 2)), Some(20));
        assert_eq!(ways.len(), 4);
        ways.clear();
        assert_eq!(ways.len(), 0);
        assert_eq!(ways.get(key(3, 2)), None);
    }

    /// A table doubles once half full, keeps every entry (and each set's order of use) as it
    /// grows, and stops at its bound.
    #[test]
    fn a_table_grows_to_its_bound_keeping_its_entries() {
        let mut ways = Ways::new(1024);
        assert_eq!(ways.sets.len(), FIRST_SETS);
        // Keys 0..1000 fall four to a set of the 256 sets of the bound: none is dropped.
        let key = |n: u64| (u128::from(n) << 64) | u128::from(n);
        for n in 0..1000 {
            ways.insert(key(n), n as u32);
        }
        assert_eq!(ways.sets.len(), 256);
        assert_eq!(ways.len(), 1000);
        for n in 0..1000 {
            assert_eq!(ways.get(key(n)), Some(n as u32), "key {n}");
        }
        // The set of key 7 holds keys 7, 263, 519, 775, most recently read first (the reads
        // above went in order): a new key of that set drops key 7.
        ways.insert(key(1031), 1031);
        assert_eq!(ways.get(key(7)), None);
        assert_eq!(ways.get(key(263)), Some(263));
        assert_eq!(ways.sets.len(), 256);
    }

    #[test]
    fn keys_that_differ_only_in_their_check_bits_are_apart() {
        let mut ways = Ways::new(16);
        let low = 7u128;
        ways.insert(low | (1 << 64), 1);
        ways.insert(low | (2 << 64), 2);
        assert_eq!(ways.get(low | (1 << 64)), Some(1));
        assert_eq!(ways.get(low | (2 << 64)), Some(2));
        assert_eq!(ways.get(low | (3 << 64)), None);
    }
}
