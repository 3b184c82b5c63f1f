fn main() {
    openraft_example_stage::stage("network-v2-http", &[]);
}
