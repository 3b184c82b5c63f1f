//! Message-level faults for the RPC layer: what may happen to an RPC on a
//! link ([`RpcFaults`]), and what does happen to one ([`RpcFate`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::FailureInjector;
use crate::NetError;
use crate::backend::NodeId;
use crate::link::Dice;
use crate::trace::EventKind;

/// Message-level faults for the RPC layer (issue B's RaftNetwork applies them
/// through [`FailureInjector::rpc_fate`]).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcFaults {
    pub drop_percent: f64,
    pub duplicate_percent: f64,
    pub delay_percent: f64,
    /// A delayed RPC waits uniformly in `[0, delay_max_us]`.
    pub delay_max_us: u64,
}

impl RpcFaults {
    pub fn validate(&self) -> Result<(), NetError> {
        for (name, value) in [
            ("drop_percent", self.drop_percent),
            ("duplicate_percent", self.duplicate_percent),
            ("delay_percent", self.delay_percent),
        ] {
            if !value.is_finite() || !(0.0..=100.0).contains(&value) {
                return Err(NetError::InvalidImpairment(format!(
                    "rpc {name} = {value} is not a percentage in [0, 100]"
                )));
            }
        }
        if self.delay_max_us > crate::impairment::MAX_LATENCY_US {
            return Err(NetError::InvalidImpairment(format!(
                "rpc delay_max_us = {} exceeds {}",
                self.delay_max_us,
                crate::impairment::MAX_LATENCY_US
            )));
        }
        Ok(())
    }

    /// Draws one RPC's fate: no draw at all without faults, else drop, then
    /// duplicate, then delay (and its length), each only if the one before
    /// missed.
    fn draw(&self, dice: &mut dyn Dice) -> RpcFate {
        if *self == RpcFaults::default() {
            return RpcFate::Deliver;
        }
        if dice.chance(self.drop_percent) {
            RpcFate::Drop
        } else if dice.chance(self.duplicate_percent) {
            RpcFate::Duplicate
        } else if dice.chance(self.delay_percent) {
            RpcFate::Delay(Duration::from_micros(dice.between(0, self.delay_max_us)))
        } else {
            RpcFate::Deliver
        }
    }
}

/// What the RPC layer should do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcFate {
    Deliver,
    Drop,
    Delay(Duration),
    Duplicate,
}

/// The faults of each link, and the default for links without their own.
#[derive(Default)]
pub(crate) struct RpcFaultTable {
    per_link: BTreeMap<(NodeId, NodeId), RpcFaults>,
    default: RpcFaults,
}

impl RpcFaultTable {
    fn set(&mut self, link: Option<(NodeId, NodeId)>, faults: RpcFaults) {
        match link {
            Some(link) => {
                self.per_link.insert(link, faults);
            }
            None => self.default = faults,
        }
    }

    fn for_link(&self, from: NodeId, to: NodeId) -> RpcFaults {
        self.per_link
            .get(&(from, to))
            .copied()
            .unwrap_or(self.default)
    }
}

impl FailureInjector {
    /// Sets message-level faults on `from -> to`, or the default for every
    /// link with `None` for both.
    pub fn set_rpc_faults(
        &self,
        link: Option<(NodeId, NodeId)>,
        faults: RpcFaults,
    ) -> Result<(), NetError> {
        faults.validate()?;
        self.state.lock().rpc.set(link, faults);
        Ok(())
    }

    /// Decides the fate of one RPC from `from` to `to`, and records it.
    pub fn rpc_fate(&self, from: NodeId, to: NodeId) -> RpcFate {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let fate = st.rpc.for_link(from, to).draw(&mut st.rng);
        drop(guard);
        match fate {
            RpcFate::Deliver => {}
            RpcFate::Drop => self.record(EventKind::RpcDropped { from, to }),
            RpcFate::Duplicate => self.record(EventKind::RpcDuplicated { from, to }),
            RpcFate::Delay(d) => self.record(EventKind::RpcDelayed {
                from,
                to,
                delay_us: d.as_micros() as u64,
            }),
        }
        fate
    }
}
