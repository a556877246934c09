//! The nodes of one broker URL: the order in which they are tried.
//!
//! A URL may list several nodes of one cluster. Each connection attempt
//! tries them one after the other in a fresh random order, so that many
//! worker processes started with the same list spread over the nodes; the
//! node of the connection that was just lost goes last, so that a
//! reconnect tries the other nodes first.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// The order in which to try `n` nodes: shuffled, `last` (the node just
/// lost) at the end.
pub(crate) fn attempt_order(n: usize, last: Option<usize>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).filter(|&i| Some(i) != last).collect();
    let mut seed = RandomState::new().build_hasher().finish() | 1;
    // Fisher-Yates with xorshift64: spreading, not secrecy.
    for i in (1..order.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        order.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    order.extend(last.filter(|&l| l < n));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_node_once_and_the_lost_one_last() {
        for _ in 0..50 {
            let order = attempt_order(3, Some(1));
            assert_eq!(order.len(), 3);
            assert_eq!(order[2], 1);
            assert_eq!(order.iter().collect::<BTreeSet<_>>().len(), 3);
        }
        assert_eq!(attempt_order(1, None), [0]);
        assert_eq!(attempt_order(1, Some(0)), [0]);
    }

    #[test]
    fn the_first_node_is_spread() {
        let firsts: BTreeSet<usize> = (0..200).map(|_| attempt_order(3, None)[0]).collect();
        assert_eq!(firsts.len(), 3, "every node comes first sometimes");
    }
}
