# This justfile mirrors `cargo xtask` for people who use just; `cargo xtask --help` is the source of truth.

# Pass recipe arguments to the shell as "$@" so quoting survives.
set positional-arguments

# List the recipes.
default:
    @just --list --unsorted

# Run the test passes (plain, madsim, kernel) and print the summary; args go to `cargo xtask test`.
test *ARGS:
    cargo xtask test "$@"

# Run the simulated sweep under cfg(madsim), e.g. `just sim --seeds 0..20`.
sim *ARGS:
    cargo xtask sim "$@"

# Run the benchmarks (simulator, Raft, checker, kernel); JSON into target/bench.
bench *ARGS:
    cargo xtask bench "$@"

# Run the Raft cluster under chaos on real kernel namespaces (root), e.g. `just real --nodes 3`.
real *ARGS:
    cargo xtask real "$@"

# Remove what killed kernel runs left behind (root).
clean-net:
    cargo xtask clean-net

# Format the whole workspace.
fmt:
    cargo fmt --all

# Lint in both cfg modes (plain, then cfg(madsim) in its own target dir).
clippy:
    cargo clippy --workspace --all-targets
    RUSTFLAGS="--cfg madsim" cargo clippy --workspace --all-targets --target-dir target/madsim
