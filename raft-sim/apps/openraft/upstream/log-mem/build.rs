fn main() {
    openraft_example_stage::stage("log-mem", &[]);
}
