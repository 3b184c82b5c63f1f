fn main() {
    openraft_example_stage::stage("types-kv", &[]);
}
