//! The caches' tables: entries keyed by 128-bit hashes of raw values, kept in two
//! generations.

use std::collections::HashMap;

use crate::eval::ways::split;

/// Two generations of at most `capacity` entries each ([`GENERATION`] unless said).
pub(super) struct Generations<V> {
    pub(super) young: Table<V>,
    pub(super) old: Table<V>,
    pub(super) capacity: usize,
}

/// Keys are 128-bit hashes of the raw values, made with two independently, randomly seeded
/// hashers: an entry then lives inline in the table, and a lookup touches no key bytes
/// elsewhere in memory. At these table sizes a lookup otherwise waits on three cache misses
/// (bucket, key bytes, outcome); comparing inline keys removed one (benches/README.md).
/// The table is indexed by the low 64 bits and each entry keeps 32 more to compare, so an
/// outcome table's entry is 16 bytes (a `u128` key made it 32, with alignment): twice as
/// many entries per cache line. Two distinct raw tuples pass for each other with probability
/// about 2^-96 per pair, far below any error rate that matters, and the seeds are private to
/// the process, so inputs cannot be crafted to collide.
pub(super) struct Table<V> {
    pub(super) entries: HashMap<u64, (u32, V), PassThrough>,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::default(),
        }
    }
}

impl<V> Table<V> {
    pub(super) fn get(&self, key: u128) -> Option<&V> {
        let (index, check) = split(key);
        let (stored, value) = self.entries.get(&index)?;
        (*stored == check).then_some(value)
    }

    pub(super) fn remove(&mut self, key: u128) -> Option<V> {
        let (index, check) = split(key);
        // Not through `entry`, which makes room for an insert first: a full old table would
        // double its allocation for a removal.
        if self.entries.get(&index)?.0 != check {
            return None;
        }
        self.entries.remove(&index).map(|(_, value)| value)
    }

    /// Stores `value` under `key`, in place of any entry with the same index.
    pub(super) fn insert(&mut self, key: u128, value: V) {
        let (index, check) = split(key);
        self.entries.insert(index, (check, value));
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.values().map(|(_, value)| value)
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.values_mut().map(|(_, value)| value)
    }
}

/// The index is already a hash: hashbrown takes it as it is.
#[derive(Default, Clone, Copy)]
pub(super) struct PassThrough;

impl std::hash::BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

pub(super) struct PassThroughHasher(u64);

impl std::hash::Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; stay a correct (if slow) hasher for anything else.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Hashes raw-value keys to 128 bits.
#[derive(Clone)]
pub(super) struct KeyHasher {
    pub(super) low: foldhash::quality::RandomState,
    pub(super) high: foldhash::quality::RandomState,
    pub(super) seed: u64,
}

impl KeyHasher {
    pub(super) fn new() -> Self {
        use std::hash::BuildHasher;
        let low = foldhash::quality::RandomState::default();
        let seed = low.hash_one("raw values");
        Self {
            low,
            high: foldhash::quality::RandomState::default(),
            seed,
        }
    }

    pub(super) fn hash<K: std::hash::Hash>(&self, key: K) -> u128 {
        use std::hash::BuildHasher;
        (u128::from(self.high.hash_one(&key)) << 64) | u128::from(self.low.hash_one(&key))
    }

    /// `key` with a count folded in (a field that tests `reports` is keyed by both).
    pub(super) fn mix(&self, key: u128, count: u64) -> u128 {
        self.hash((key, count, "reports"))
    }

    /// The key of a raw value and the source that gave it: one pass of XXH3's 128-bit hash,
    /// seeded by the source (twice the speed of two 64-bit hashes of the same bytes).
    pub(super) fn raw(&self, source: usize, raw: &[u8]) -> u128 {
        let seed = self.seed ^ (source as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        xxhash_rust::xxh3::xxh3_128_with_seed(raw, seed)
    }
}

impl<V> Generations<V> {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            young: Table::default(),
            old: Table::default(),
            capacity,
        }
    }

    pub(super) fn is_full(&self) -> bool {
        self.young.len() >= self.capacity
    }

    /// The young generation becomes the old one; the old one's table, emptied, the young
    /// one: its memory is reused rather than freed and faulted in again (page zeroing was
    /// 4% of a dry run). At the first turnover the new young table is sized for a full
    /// generation at once: a cache that fills once fills again, and growing by doubling
    /// would make peak memory creep up with the input's length.
    pub(super) fn turn_over(&mut self) {
        std::mem::swap(&mut self.young, &mut self.old);
        self.young.clear();
        self.young.entries.reserve(self.capacity);
    }
}
