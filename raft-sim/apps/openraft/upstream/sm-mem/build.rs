fn main() {
    openraft_example_stage::stage("sm-mem", &[]);
}
