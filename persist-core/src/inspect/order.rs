//! Orders that are known, and ties that are not: two histories agree when some order of each
//! one's ties makes them the same.
//!
//! A message's place is its *block*: messages whose rows a table cannot tell apart in time (the
//! same declared order value and the same created time: two writes in one second of a
//! one-second clock) share a block, and within a block their order is not known. Comparing two
//! sides then asks whether one sequence exists that both sides allow, and if not, where the
//! first message is that no such order can place: a difference the data proves, never one a
//! random id made up.

use std::hash::Hash;

/// Whether `a` and `b` can be the same sequence: each is a list of `(block, key)` in its own
/// order (blocks ascending). `Err(position)` is the first place where no order of their ties
/// makes them agree (0-based), or where one runs out before the other. With `prefix`, `a` only
/// has to agree with the start of `b`.
pub(crate) fn agree<K: Eq + Hash + Clone>(
    a: &[(usize, K)],
    b: &[(usize, K)],
    prefix: bool,
) -> Result<(), usize> {
    let (blocks_a, blocks_b) = (blocks(a), blocks(b));
    let (mut next_a, mut next_b) = (0, 0);
    let (mut open_a, mut open_b): (Vec<K>, Vec<K>) = (Vec::new(), Vec::new());
    let mut position = 0;
    loop {
        if open_a.is_empty() && next_a < blocks_a.len() {
            open_a = blocks_a[next_a].clone();
            next_a += 1;
        }
        if open_b.is_empty() && next_b < blocks_b.len() {
            open_b = blocks_b[next_b].clone();
            next_b += 1;
        }
        match (open_a.is_empty(), open_b.is_empty()) {
            (true, true) => return Ok(()),
            (true, false) if prefix => return Ok(()),
            (true, false) | (false, true) => return Err(position),
            (false, false) => {}
        }
        // Anything both open blocks hold can come next on both sides.
        let common = open_a
            .iter()
            .enumerate()
            .find_map(|(i, key)| open_b.iter().position(|k| k == key).map(|j| (i, j)));
        let Some((i, j)) = common else {
            return Err(position);
        };
        open_a.swap_remove(i);
        open_b.swap_remove(j);
        position += 1;
    }
}

/// The keys of each block, in block order.
fn blocks<K: Clone>(items: &[(usize, K)]) -> Vec<Vec<K>> {
    let mut out: Vec<Vec<K>> = Vec::new();
    let mut last = None;
    for (block, key) in items {
        if last != Some(*block) {
            out.push(Vec::new());
            last = Some(*block);
        }
        out.last_mut().expect("pushed above").push(key.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(items: &[(usize, &'static str)]) -> Vec<(usize, &'static str)> {
        items.to_vec()
    }

    #[test]
    fn a_tie_is_any_order_and_a_known_order_is_not() {
        // One side wrote both in one second, the other knows the order.
        let tied = seq(&[(0, "question"), (0, "reply")]);
        let ordered = seq(&[(0, "question"), (1, "reply")]);
        let swapped = seq(&[(0, "reply"), (1, "question")]);
        assert_eq!(agree(&tied, &ordered, false), Ok(()));
        assert_eq!(agree(&ordered, &tied, false), Ok(()));
        assert_eq!(agree(&swapped, &tied, false), Ok(()));
        // Both sides know the order: a swap is a swap.
        assert_eq!(agree(&swapped, &ordered, false), Err(0));
    }

    #[test]
    fn ties_that_do_not_line_up_still_agree_when_some_order_fits_both() {
        // Two turns: one side ties the first turn, the other the reply and the next question.
        let a = seq(&[(0, "q1"), (0, "r1"), (1, "q2"), (2, "r2")]);
        let b = seq(&[(0, "q1"), (1, "r1"), (1, "q2"), (2, "r2")]);
        assert_eq!(agree(&a, &b, false), Ok(()));
        // A second turn before the first, with every time known: caught where it starts.
        let c = seq(&[(0, "q2"), (1, "r2"), (2, "q1"), (3, "r1")]);
        let d = seq(&[(0, "q1"), (1, "r1"), (2, "q2"), (3, "r2")]);
        assert_eq!(agree(&c, &d, false), Err(0));
    }

    #[test]
    fn lengths_and_prefixes() {
        let long = seq(&[(0, "a"), (1, "b"), (2, "c")]);
        let short = seq(&[(0, "a"), (1, "b")]);
        assert_eq!(agree(&short, &long, false), Err(2));
        assert_eq!(agree(&long, &short, false), Err(2));
        assert_eq!(agree(&short, &long, true), Ok(()));
        assert_eq!(agree(&long, &short, true), Err(2));
        // Repeated keys count as many times as they appear.
        let twice = seq(&[(0, "ok"), (0, "ok")]);
        let once = seq(&[(0, "ok"), (0, "other")]);
        assert_eq!(agree(&twice, &once, false), Err(1));
        assert_eq!(agree::<&str>(&[], &[], false), Ok(()));
    }
}
