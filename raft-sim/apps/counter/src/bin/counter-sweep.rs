//! Seed sweeps of the counter service: `counter-sweep sweep --seeds 0..100`,
//! `counter-sweep run --seed N`, `counter-sweep replay ARTIFACT.json`
//! (build with `RUSTFLAGS="--cfg madsim"`).

fn main() -> std::process::ExitCode {
    raft_sim::sweep::main(example_counter::CounterApp)
}
