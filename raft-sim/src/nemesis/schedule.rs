//! A schedule: a bounded, time-ordered, checked list of [`Step`]s.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::fault::Fault;
use super::generate::SwarmDraw;
use super::{MAX_BURST_MS, MAX_NODES, MAX_SCHEDULE_MS, MAX_STEPS, NodeId};

/// Bounds on one [`Fault::ResetClientConnections`] step, which runs its
/// resets before the next step may start.
pub const MAX_CLIENT_RESETS: u32 = 20;
pub const MAX_CLIENT_RESET_EVERY_MS: u64 = 1_000;

/// One fault at `at_ms` after [`run`] starts. Steps of one episode belong
/// together: the undo step acts on what its episode's start step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub at_ms: u64,
    pub episode: u32,
    pub fault: Fault,
}

/// Why a hand-made schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0} steps, more than the {MAX_STEPS} allowed")]
    TooManySteps(usize),
    #[error("step {step} at {at_ms} ms is later than {MAX_SCHEDULE_MS} ms")]
    TooLate { step: usize, at_ms: u64 },
    #[error("step {step}: a burst of {duration_ms} ms is longer than {MAX_BURST_MS} ms")]
    BurstTooLong { step: usize, duration_ms: u64 },
    #[error("step {step} names node {node}, beyond the {MAX_NODES}-node limit")]
    NodeOutOfRange { step: usize, node: NodeId },
    #[error("step {step} ({fault}) undoes nothing earlier in episode {episode}")]
    Unpaired {
        step: usize,
        episode: u32,
        fault: String,
    },
    #[error(
        "step {step}: a clock rate of {rate_permille}\u{2030} is outside {}..={}\u{2030}",
        madsim_net::clock::RATE_PERMILLE.start(),
        madsim_net::clock::RATE_PERMILLE.end()
    )]
    ClockRate { step: usize, rate_permille: u32 },
    #[error(
        "step {step}: {resets} client resets {every_ms} ms apart; 1..={MAX_CLIENT_RESETS} \
         resets at most {MAX_CLIENT_RESET_EVERY_MS} ms apart are allowed"
    )]
    ClientResets {
        step: usize,
        resets: u32,
        every_ms: u64,
    },
    #[error("episode {episode} starts more than one fault")]
    EpisodeReused { episode: u32 },
}

/// A bounded, time-ordered list of [`Step`]s.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Schedule {
    pub(super) steps: Vec<Step>,
    /// The seed's draw from its preset, when it was drawn (swarm testing).
    pub(super) swarm: Option<SwarmDraw>,
}

impl Schedule {
    /// No faults.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The same steps, noting the swarm draw they came from.
    pub(super) fn with_swarm(self, swarm: Option<SwarmDraw>) -> Self {
        Schedule { swarm, ..self }
    }

    /// What the seed drew from its preset, if the schedule was drawn.
    pub fn swarm(&self) -> Option<&SwarmDraw> {
        self.swarm.as_ref()
    }

    /// A schedule from hand-made steps, sorted by time (stably), checked:
    /// bounded, node ids in range, every undo step after its episode's start.
    pub fn new(mut steps: Vec<Step>) -> Result<Self, ScheduleError> {
        if steps.len() > MAX_STEPS {
            return Err(ScheduleError::TooManySteps(steps.len()));
        }
        steps.sort_by_key(|s| s.at_ms);
        let mut started: BTreeMap<u32, Fault> = BTreeMap::new();
        for (i, step) in steps.iter().enumerate() {
            check_step(i, step)?;
            if step.fault.is_undo() {
                let matches = started
                    .get(&step.episode)
                    .and_then(Fault::undo)
                    .is_some_and(|undo| undo == step.fault);
                if !matches {
                    return Err(ScheduleError::Unpaired {
                        step: i,
                        episode: step.episode,
                        fault: step.fault.to_string(),
                    });
                }
            } else if started.insert(step.episode, step.fault.clone()).is_some() {
                return Err(ScheduleError::EpisodeReused {
                    episode: step.episode,
                });
            }
        }
        Ok(Schedule { steps, swarm: None })
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The same swarm draw with other steps, checked as [`Schedule::new`]
    /// checks them: a shrunk run keeps what its seed drew beyond the steps.
    pub fn with_steps(&self, steps: Vec<Step>) -> Result<Self, ScheduleError> {
        Ok(Schedule::new(steps)?.with_swarm(self.swarm.clone()))
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// When the last fault ends (a burst ends after its duration).
    pub fn span_ms(&self) -> u64 {
        self.steps
            .iter()
            .map(|s| match &s.fault {
                Fault::ImpairBurst { duration_ms, .. } => s.at_ms.saturating_add(*duration_ms),
                _ => s.at_ms,
            })
            .max()
            .unwrap_or(0)
    }

    /// Episodes whose fault is never undone within the schedule.
    pub fn unpaired_episodes(&self) -> Vec<u32> {
        let mut open = BTreeSet::new();
        for step in &self.steps {
            if step.fault.is_undo() {
                open.remove(&step.episode);
            } else if step.fault.undo().is_some() {
                open.insert(step.episode);
            }
        }
        open.into_iter().collect()
    }

    /// What [`run`] does, in order: the steps plus the end of every burst.
    pub(super) fn actions(&self) -> Vec<Action> {
        let mut actions: Vec<Action> = self
            .steps
            .iter()
            .enumerate()
            .map(|(index, step)| Action {
                at_ms: step.at_ms,
                index,
                end_of_burst: false,
            })
            .collect();
        for (index, step) in self.steps.iter().enumerate() {
            if let Fault::ImpairBurst { duration_ms, .. } = step.fault {
                actions.push(Action {
                    at_ms: step.at_ms.saturating_add(duration_ms),
                    index,
                    end_of_burst: true,
                });
            }
        }
        // Stable: at equal times, steps before burst ends.
        actions.sort_by_key(|a| a.at_ms);
        assert!(actions.len() <= 2 * MAX_STEPS);
        actions
    }
}

fn check_step(i: usize, step: &Step) -> Result<(), ScheduleError> {
    if step.at_ms > MAX_SCHEDULE_MS {
        return Err(ScheduleError::TooLate {
            step: i,
            at_ms: step.at_ms,
        });
    }
    if let Fault::ImpairBurst { duration_ms, .. } = step.fault
        && duration_ms > MAX_BURST_MS
    {
        return Err(ScheduleError::BurstTooLong {
            step: i,
            duration_ms,
        });
    }
    if let Fault::DriftClock { rate_permille, .. } = step.fault
        && !madsim_net::clock::RATE_PERMILLE.contains(&rate_permille)
    {
        return Err(ScheduleError::ClockRate {
            step: i,
            rate_permille,
        });
    }
    if let Fault::ResetClientConnections { resets, every_ms } = step.fault
        && (!(1..=MAX_CLIENT_RESETS).contains(&resets) || every_ms > MAX_CLIENT_RESET_EVERY_MS)
    {
        return Err(ScheduleError::ClientResets {
            step: i,
            resets,
            every_ms,
        });
    }
    if let Some(node) = step
        .fault
        .nodes_named()
        .into_iter()
        .find(|&n| n >= MAX_NODES as NodeId)
    {
        return Err(ScheduleError::NodeOutOfRange { step: i, node });
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Action {
    pub(super) at_ms: u64,
    /// Index of the step in the schedule.
    pub(super) index: usize,
    pub(super) end_of_burst: bool,
}
