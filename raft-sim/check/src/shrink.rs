//! Shrinking a non-linearizable history to a small core that shows why.
//!
//! Deleting an op outright is a poor test of whether it matters: once
//! the write of 1 is deleted, a stale read of 1 "violates" on its own and
//! the core would wrongly suggest that nobody wrote 1. So an op is tested
//! by *weakening* it: its observation is forgotten but its possible effect
//! kept (a write becomes indeterminate: it may take effect at any point
//! after its invocation, or never; a read, or a cas that failed, has no
//! effect and goes). Weakening only adds linearizations, so if the
//! history still violates, the op is not part of the explanation.
//!
//! For a register, a weakened op may even take effect *any number of
//! times* (`SearchOp::reusable`). That relaxes further (more
//! linearizations), so "still violates" stays sound, and it keeps the
//! checks cheap: the search no longer tracks which weakened ops were used.
//!
//! 1. Prefix: the shortest prefix in invocation order that violates with
//!    every later op weakened, by bisection. (Ops invoked after the
//!    prefix's last return cannot come before it ends: they cost little.)
//! 2. One pass over the prefix's determinate ops, latest first: weaken
//!    the op and keep it weakened if the history still violates.
//!
//! Invariant: the current mix of strong and weakened ops violates. The
//! history's own indeterminate ops stay as they are. So the core, the ops
//! left strong, cannot be linearized even if every other op of the key
//! took effect at any point(s) after its invocation, or never; and, as
//! an indeterminate op may always be left out (a linearization without it
//! is one where it never took effect), the core alone cannot either.
//! Weakening more ops only adds linearizations, so an op found needed
//! stays needed: the core is 1-minimal if every check was conclusive.
//! Every check runs within a step budget; a check that runs out counts
//! as "not shown", so its op stays strong and the core is not minimal.

use std::time::Instant;

use super::model::Model;
use super::wgl::{Budget, SearchOp, SearchResult, search};

/// Bounds on the whole shrink.
#[derive(Clone, Copy, Debug)]
pub struct ShrinkBudget {
    pub max_checks: u32,
    pub max_total_steps: u64,
    pub steps_per_check: u64,
    pub max_memo_bytes: u64,
    pub deadline: Option<Instant>,
}

/// The core found: indices into the ops given, in invocation order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shrunk {
    pub kept: Vec<usize>,
    /// Weakening any one kept op lets the rest linearize (with every
    /// other op weakened); every check was conclusive.
    pub minimal: bool,
    pub checks: u32,
    pub steps: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Strong,
    Weak,
}

struct Shrinker<'a, M: Model> {
    ops: &'a [SearchOp<M::Op>],
    budget: &'a ShrinkBudget,
    checks: u32,
    steps: u64,
    /// Some check was skipped or ended `Unknown`.
    unsure: bool,
}

impl<M: Model> Shrinker<'_, M> {
    fn out_of_budget(&self) -> bool {
        self.checks >= self.budget.max_checks
            || self.steps >= self.budget.max_total_steps
            || self
                .budget
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// The op in a weak slot: the history's own indeterminate ops as they
    /// are; others weakened (`None` if that leaves no effect).
    fn weak(op: &SearchOp<M::Op>) -> Option<SearchOp<M::Op>> {
        if op.ret.is_none() {
            return Some(op.clone());
        }
        M::weaken(&op.op).map(|weak| SearchOp {
            reusable: M::reusable_when_weakened(&weak),
            op: weak,
            call: op.call,
            ret: None,
        })
    }

    /// The history the slots describe.
    fn candidate(&self, slots: &[Slot]) -> Vec<SearchOp<M::Op>> {
        let pairs = self.ops.iter().zip(slots);
        pairs
            .filter_map(|(op, slot)| match slot {
                Slot::Strong => Some(op.clone()),
                Slot::Weak => Self::weak(op),
            })
            .collect()
    }

    /// Whether `slots` is shown to violate (`false` when not sure).
    fn violates(&mut self, slots: &[Slot]) -> bool {
        if self.out_of_budget() {
            self.unsure = true;
            return false;
        }
        let candidate = self.candidate(slots);
        let remaining = self.budget.max_total_steps - self.steps;
        let per_check = Budget {
            max_steps: self.budget.steps_per_check.min(remaining),
            max_memo_bytes: self.budget.max_memo_bytes,
            deadline: self.budget.deadline,
        };
        let report = search::<M>(&candidate, &per_check);
        self.checks += 1;
        self.steps = self.steps.saturating_add(report.steps);
        match report.result {
            SearchResult::NotLinearizable => true,
            SearchResult::Linearizable { .. } => false,
            SearchResult::Unknown(_) => {
                self.unsure = true;
                false
            }
        }
    }

    /// Shortest prefix of `order` that violates with the rest weakened
    /// (the whole of `order`, nothing weakened, is known to violate).
    fn prefix(&mut self, order: &[usize]) -> usize {
        let mut slots = vec![Slot::Strong; self.ops.len()];
        // Invariant: a prefix of `high` ops violates; one of `low` was not shown to.
        let (mut low, mut high) = (0usize, order.len());
        while high - low > 1 && !self.out_of_budget() {
            let middle = low + (high - low) / 2;
            for (position, &index) in order.iter().enumerate() {
                slots[index] = if position < middle {
                    Slot::Strong
                } else {
                    Slot::Weak
                };
            }
            if self.violates(&slots) {
                high = middle;
            } else {
                low = middle;
            }
        }
        high
    }

    /// Weakens each determinate op of `prefix` in turn, latest first,
    /// keeping it weak when the history still violates. Returns the ops
    /// left strong.
    fn weaken_each(&mut self, slots: &mut [Slot], prefix: &[usize]) -> Vec<usize> {
        let mut kept = Vec::with_capacity(prefix.len());
        for &index in prefix.iter().rev() {
            if self.ops[index].ret.is_none() {
                continue;
            }
            slots[index] = Slot::Weak;
            if !self.violates(slots) {
                slots[index] = Slot::Strong;
                kept.push(index);
            }
        }
        kept.reverse();
        kept
    }
}

/// Shrinks `ops`, which must be known not linearizable, to a small core.
pub fn shrink<M: Model>(ops: &[SearchOp<M::Op>], budget: &ShrinkBudget) -> Shrunk {
    let mut shrinker = Shrinker::<M> {
        ops,
        budget,
        checks: 0,
        steps: 0,
        unsure: false,
    };
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&index| (ops[index].call, index));
    let prefix = shrinker.prefix(&order);
    let mut slots = vec![Slot::Weak; ops.len()];
    for &index in &order[..prefix] {
        slots[index] = Slot::Strong;
    }
    let kept = shrinker.weaken_each(&mut slots, &order[..prefix]);
    Shrunk {
        kept,
        minimal: !shrinker.unsure,
        checks: shrinker.checks,
        steps: shrinker.steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KvAppend, KvOp, RegisterCas, RegisterOp};

    const BUDGET: ShrinkBudget = ShrinkBudget {
        max_checks: 10_000,
        max_total_steps: 10_000_000,
        steps_per_check: 1_000_000,
        max_memo_bytes: 1 << 26,
        deadline: None,
    };

    fn op<Op>(op: Op, call: u64, ret: Option<u64>) -> SearchOp<Op> {
        SearchOp::new(op, call, ret)
    }

    use RegisterOp::{Read, Write};

    fn linearizable<M: Model>(ops: &[SearchOp<M::Op>]) -> bool {
        let budget = Budget {
            max_steps: 1_000_000,
            max_memo_bytes: 1 << 26,
            deadline: None,
        };
        match search::<M>(ops, &budget).result {
            SearchResult::Linearizable { .. } => true,
            SearchResult::NotLinearizable => false,
            SearchResult::Unknown(reason) => panic!("{reason}"),
        }
    }

    fn core_of<Op: Clone>(ops: &[SearchOp<Op>], shrunk: &Shrunk) -> Vec<SearchOp<Op>> {
        shrunk.kept.iter().map(|&i| ops[i].clone()).collect()
    }

    #[test]
    fn a_stale_read_keeps_both_writes() {
        // Noise before and after the violation, on one register.
        let mut ops = vec![op(Write(7), 0, Some(1)), op(Read(Some(7)), 2, Some(3))];
        ops.push(op(Write(1), 10, Some(11)));
        ops.push(op(Write(2), 12, Some(13)));
        ops.push(op(Read(Some(1)), 14, Some(15)));
        for t in 0..20 {
            ops.push(op(Write(3), 20 + 2 * t, Some(21 + 2 * t)));
        }
        assert!(!linearizable::<RegisterCas>(&ops));
        let shrunk = shrink::<RegisterCas>(&ops, &BUDGET);
        assert_eq!(shrunk.kept, vec![2, 3, 4], "{shrunk:?}");
        assert!(shrunk.minimal);
        assert!(!linearizable::<RegisterCas>(&core_of(&ops, &shrunk)));
    }

    #[test]
    fn a_value_never_written_is_a_core_of_one() {
        let ops = [
            op(Write(1), 0, Some(1)),
            op(Read(Some(1)), 2, Some(3)),
            op(Read(Some(9)), 4, Some(5)),
            op(Write(2), 6, Some(7)),
        ];
        let shrunk = shrink::<RegisterCas>(&ops, &BUDGET);
        assert_eq!(shrunk.kept, vec![2]);
        assert!(shrunk.minimal);
    }

    #[test]
    fn indeterminate_ops_are_context_not_core() {
        // The info write of 2 explains the read of 2, so both reads are
        // needed; the write itself is not part of the core.
        let ops = [
            op(Write(2), 0, None),
            op(Read(Some(2)), 1, Some(2)),
            op(Read(None), 3, Some(4)),
        ];
        let shrunk = shrink::<RegisterCas>(&ops, &BUDGET);
        assert_eq!(shrunk.kept, vec![1, 2]);
        assert!(!linearizable::<RegisterCas>(&core_of(&ops, &shrunk)));
    }

    #[test]
    fn a_later_concurrent_write_explains_a_read() {
        // The write of 1 is invoked after the read, but overlaps it: it
        // must stay in the core, or the core would claim 1 was never written.
        let ops = [
            op(Read(Some(1)), 0, Some(10)),
            op(Write(1), 5, Some(6)),
            op(Write(2), 7, Some(8)),
            op(Read(Some(2)), 11, Some(12)),
            op(Read(Some(1)), 13, Some(14)),
        ];
        assert!(!linearizable::<RegisterCas>(&ops));
        let shrunk = shrink::<RegisterCas>(&ops, &BUDGET);
        assert_eq!(shrunk.kept, vec![1, 2, 4]);
    }

    #[test]
    fn kv_cores_keep_what_explains_a_get() {
        let ops = [
            op(KvOp::Append("a".into()), 0, Some(1)),
            op(KvOp::Append("b".into()), 2, Some(3)),
            op(KvOp::Get("ba".into()), 4, Some(5)),
            op(KvOp::Get("ab".into()), 6, Some(7)),
        ];
        let shrunk = shrink::<KvAppend>(&ops, &BUDGET);
        assert!(shrunk.minimal);
        assert!(!linearizable::<KvAppend>(&core_of(&ops, &shrunk)));
        // The append of "b" may stay weakened: invoked after "a" completed,
        // it cannot come first whatever else happened.
        assert_eq!(shrunk.kept, vec![0, 2]);
    }

    #[test]
    fn an_exhausted_budget_is_reported_as_not_minimal() {
        let ops = [
            op(Write(1), 0, Some(1)),
            op(Write(2), 2, Some(3)),
            op(Read(Some(1)), 4, Some(5)),
        ];
        let tiny = ShrinkBudget {
            max_checks: 1,
            ..BUDGET
        };
        let shrunk = shrink::<RegisterCas>(&ops, &tiny);
        assert!(!shrunk.minimal);
        assert!(!linearizable::<RegisterCas>(&core_of(&ops, &shrunk)));
    }
}
