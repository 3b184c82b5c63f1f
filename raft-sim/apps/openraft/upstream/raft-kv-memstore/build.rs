fn main() {
    openraft_example_stage::stage("raft-kv-memstore", &["utils"]);
}
