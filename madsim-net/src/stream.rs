//! One seed, named random streams: every random decision of a run draws
//! from a [`StreamRng`] of the run's seed and the [`Stream`] it belongs to.
//!
//! Under `cfg(madsim)` every stream is the simulation's own RNG: the
//! simulator was started from the same seed and one thread draws them all
//! in an order the seed fixes, so the seed replays every draw. On a real
//! network each stream is a `StdRng` seeded from the run seed and the
//! stream's name: the nemesis, a workload client or a link engine draws the
//! same numbers in two runs of one seed however the threads interleave.
//!
//! ```
//! use madsim_net::stream::{Stream, stream_seed};
//!
//! // Each stream of a run has its own seed, the same in every run.
//! assert_ne!(stream_seed(7, Stream::Nemesis), stream_seed(7, Stream::Workload(0)));
//! assert_eq!(stream_seed(7, Stream::Nemesis), stream_seed(7, Stream::Nemesis));
//! ```

use rand08::RngCore;

/// The independent sources of randomness of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The failure injector's decisions (link faults, RPC faults).
    Injector,
    /// A kernel link engine's per-packet decisions (each link then splits
    /// it further by its port pair).
    Engine,
    /// The fault schedule drawn before the run.
    Schedule,
    /// The nemesis' choices while it plays the schedule (which follower,
    /// which order).
    Nemesis,
    /// Workload client slot `n`: the operations it generates.
    Workload(u64),
}

impl Stream {
    /// Distinct for every stream (the variant in the top byte).
    fn tag(self) -> u64 {
        const SLOT_MASK: u64 = (1 << 56) - 1;
        match self {
            Stream::Injector => 1 << 56,
            Stream::Engine => 2 << 56,
            Stream::Schedule => 3 << 56,
            Stream::Nemesis => 4 << 56,
            Stream::Workload(slot) => (5 << 56) | (slot & SLOT_MASK),
        }
    }
}

/// The seed of `stream` in a run of `seed`: well mixed, so that nearby run
/// seeds and nearby streams share nothing.
pub fn stream_seed(seed: u64, stream: Stream) -> u64 {
    splitmix64(seed ^ splitmix64(stream.tag()))
}

/// SplitMix64's output function (Steele, Lea and Flood, 2014): a bijection
/// on u64 whose outputs of consecutive inputs look independent.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The RNG of one [`Stream`] of a run. rand 0.8's `Rng` API.
pub struct StreamRng {
    #[cfg(madsim)]
    inner: madsim::rand::GlobalRng,
    #[cfg(not(madsim))]
    inner: rand08::rngs::StdRng,
}

impl StreamRng {
    /// `stream` of the run of `seed`. Under the simulator: its RNG (which
    /// the simulation's seed made); call it inside the simulation.
    #[cfg(madsim)]
    pub fn new(_seed: u64, _stream: Stream) -> StreamRng {
        StreamRng {
            inner: madsim::rand::thread_rng(),
        }
    }

    /// `stream` of the run of `seed`: a `StdRng` of [`stream_seed`].
    #[cfg(not(madsim))]
    pub fn new(seed: u64, stream: Stream) -> StreamRng {
        use rand08::SeedableRng;
        StreamRng {
            inner: rand08::rngs::StdRng::seed_from_u64(stream_seed(seed, stream)),
        }
    }
}

impl std::fmt::Debug for StreamRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamRng")
    }
}

impl RngCore for StreamRng {
    fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.inner.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand08::Error> {
        self.inner.try_fill_bytes(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_of_a_seed_has_its_own_seed() {
        let streams = [
            Stream::Injector,
            Stream::Engine,
            Stream::Schedule,
            Stream::Nemesis,
            Stream::Workload(0),
            Stream::Workload(1),
        ];
        let mut seeds: Vec<u64> = streams.iter().map(|s| stream_seed(7, *s)).collect();
        seeds.extend(streams.iter().map(|s| stream_seed(8, *s)));
        let count = seeds.len();
        seeds.sort_unstable();
        seeds.dedup();
        assert_eq!(seeds.len(), count, "two streams share a seed");
    }

    #[cfg(not(madsim))]
    #[test]
    fn a_stream_draws_the_same_numbers_for_the_same_seed() {
        let draws = |seed, stream| -> Vec<u64> {
            let mut rng = StreamRng::new(seed, stream);
            (0..16).map(|_| rng.next_u64()).collect()
        };
        assert_eq!(draws(3, Stream::Nemesis), draws(3, Stream::Nemesis));
        assert_ne!(draws(3, Stream::Nemesis), draws(4, Stream::Nemesis));
        assert_ne!(draws(3, Stream::Nemesis), draws(3, Stream::Workload(0)));
    }
}
