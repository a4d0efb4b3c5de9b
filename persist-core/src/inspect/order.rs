//! Orders that are known, and ties that are not: two histories agree when some order of each
//! one's ties makes them the same.
//!
//! A message's place is its *block*: messages whose rows a table cannot tell apart in time (the
//! same declared order value and the same created time: two writes in one second of a
//! one-second clock) share a block, and within a block their order is not known. Comparing two
//! sides then asks whether one sequence exists that both sides allow, and if not, where the
//! first message is that no such order can place: a difference the data proves, never one a
//! random id made up.

/// One message as the order checks see it: its block, what is compared (`key`), and, when its
/// turn is known, the turn and whether it is the turn's question (the user's message): inside
/// a block, a turn's question still comes before its reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item<K> {
    pub(crate) block: usize,
    pub(crate) key: K,
    pub(crate) turn: Option<(String, bool)>,
}

impl<K> Item<K> {
    /// An item whose turn is not known.
    pub(crate) fn new(block: usize, key: K) -> Self {
        Item {
            block,
            key,
            turn: None,
        }
    }

    /// The same, in `turn` (empty: not known), the question when `question`.
    pub(crate) fn in_turn(mut self, turn: &str, question: bool) -> Self {
        self.turn = (!turn.is_empty()).then(|| (turn.to_owned(), question));
        self
    }
}

/// Whether `a` and `b` can be the same sequence: each in its own order (blocks ascending).
/// `Err(position)` is the first place where no order of their ties makes them agree
/// (0-based), or where one runs out before the other. With `prefix`, `a` only has to agree
/// with the start of `b`.
pub(crate) fn agree<K: Eq + Clone>(
    a: &[Item<K>],
    b: &[Item<K>],
    prefix: bool,
) -> Result<(), usize> {
    let (blocks_a, blocks_b) = (blocks(a), blocks(b));
    let (mut next_a, mut next_b) = (0, 0);
    let (mut open_a, mut open_b): (Vec<Item<K>>, Vec<Item<K>>) = (Vec::new(), Vec::new());
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
        // Anything both open blocks hold, and that no question of its turn still waits for
        // on either side, can come next on both.
        let common = (0..open_a.len())
            .filter(|&i| ready(&open_a, i))
            .find_map(|i| {
                (0..open_b.len())
                    .find(|&j| open_b[j].key == open_a[i].key && ready(&open_b, j))
                    .map(|j| (i, j))
            });
        let Some((i, j)) = common else {
            return Err(position);
        };
        open_a.swap_remove(i);
        open_b.swap_remove(j);
        position += 1;
    }
}

/// Whether `open[i]` may come next: it is no reply whose question is still open.
fn ready<K>(open: &[Item<K>], i: usize) -> bool {
    match &open[i].turn {
        Some((turn, false)) => !open
            .iter()
            .any(|other| other.turn.as_ref().is_some_and(|(t, q)| t == turn && *q)),
        _ => true,
    }
}

/// The items of each block, in block order.
fn blocks<K: Clone>(items: &[Item<K>]) -> Vec<Vec<Item<K>>> {
    let mut out: Vec<Vec<Item<K>>> = Vec::new();
    let mut last = None;
    for item in items {
        if last != Some(item.block) {
            out.push(Vec::new());
            last = Some(item.block);
        }
        out.last_mut().expect("pushed above").push(item.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(items: &[(usize, &'static str)]) -> Vec<Item<&'static str>> {
        items.iter().map(|(b, k)| Item::new(*b, *k)).collect()
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

    #[test]
    fn inside_a_tie_a_question_still_comes_before_its_reply() {
        // Two turns in one tie on one side; the other holds turn 1's reply before anything.
        let turn = |b, k, t, q| Item::new(b, k).in_turn(t, q);
        let tied = vec![
            turn(0, "q1", "t1", true),
            turn(0, "r1", "t1", false),
            turn(0, "q2", "t2", true),
            turn(0, "r2", "t2", false),
        ];
        let reply_first = seq(&[(0, "r1"), (1, "q1"), (1, "q2"), (1, "r2")]);
        assert_eq!(agree(&reply_first, &tied, false), Err(0));
        // Turns in either order are fine: each question before its reply.
        let second_first = seq(&[(0, "q2"), (1, "r2"), (2, "q1"), (3, "r1")]);
        assert_eq!(agree(&second_first, &tied, false), Ok(()));
    }
}
