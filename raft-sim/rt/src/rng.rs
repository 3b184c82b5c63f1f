//! OpenRaft's random numbers, drawn from madsim's seeded generator.
//!
//! OpenRaft asks its runtime for a rand 0.10 [`rand::Rng`] (election timeouts
//! are randomised with it). madsim's generator speaks rand 0.8. Rather than
//! seeding a rand 0.10 generator from one madsim draw, [`SimRng`] forwards
//! every draw to madsim's generator: each one is then part of madsim's
//! determinism log, so `MADSIM_TEST_CHECK_DETERMINISM` sees the exact point
//! where two runs of a seed start to disagree.

use std::convert::Infallible;
use std::fmt;

use madsim::rand::{GlobalRng, RngCore as _};

/// rand 0.10 view of the current simulation's seeded RNG.
///
/// rand 0.10 implements `Rng` for every `TryRng<Error = Infallible>`, so this
/// type implements only [`rand::TryRng`]. It is not a `CryptoRng`: madsim's
/// generator is xoshiro256++, and nothing here needs secrecy.
#[derive(Clone)]
pub struct SimRng {
    inner: GlobalRng,
}

impl SimRng {
    /// The RNG of the simulation this task runs in.
    ///
    /// # Panics
    ///
    /// Outside a madsim runtime: there is no seed to draw from, and a silent
    /// fallback to OS randomness would break replay.
    #[track_caller]
    pub fn current() -> Self {
        Self {
            inner: madsim::rand::thread_rng(),
        }
    }
}

impl fmt::Debug for SimRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimRng").finish_non_exhaustive()
    }
}

impl rand::TryRng for SimRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.inner.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.inner.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.inner.fill_bytes(dst);
        Ok(())
    }
}
