fn main() {
    openraft_example_stage::stage("app-http", &[]);
}
