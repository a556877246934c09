//! A fast hasher for the broker's own maps (queue names, channel ids),
//! which are looked up several times per message: FNV-1a, where the
//! standard SipHash costs more than the rest of a lookup. The keys are the
//! application's own queue names and ids, so flooding resistance buys
//! nothing here.

use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a, 64 bits.
#[derive(Clone, Copy)]
pub(super) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        // One multiply for an id instead of eight rounds.
        self.0 = (self.0 ^ n).wrapping_mul(0x0100_0000_01b3);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` with [`Fnv`].
pub(super) type FastMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<Fnv>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_names_and_ids_hash_apart() {
        let hash = |name: &str| {
            let mut h = Fnv::default();
            h.write(name.as_bytes());
            h.finish()
        };
        assert_ne!(hash("jobs"), hash("jobs.dlq"));
        assert_eq!(hash("jobs"), hash("jobs"));
        let mut map: FastMap<u64, u64> = FastMap::default();
        for id in 0..1000 {
            map.insert(id, id * 2);
        }
        assert!((0..1000).all(|id| map[&id] == id * 2));
    }
}
