//! The injector's randomness: one stream, drawn by every part in the order
//! of the calls (under `cfg(madsim)`, the simulator's seeded RNG itself).

use crate::link::Dice;

pub(crate) enum RngSource {
    #[cfg(madsim)]
    Simulator,
    Seeded(Box<rand08::rngs::StdRng>),
}

impl RngSource {
    /// A stream of its own, from `seed` (real-network backends).
    pub(crate) fn seeded(seed: u64) -> Self {
        use rand08::SeedableRng;
        RngSource::Seeded(Box::new(rand08::rngs::StdRng::seed_from_u64(seed)))
    }
}

impl Dice for RngSource {
    fn next_u64(&mut self) -> u64 {
        use rand08::RngCore;
        match self {
            #[cfg(madsim)]
            RngSource::Simulator => madsim::rand::thread_rng().next_u64(),
            RngSource::Seeded(rng) => rng.next_u64(),
        }
    }
}
