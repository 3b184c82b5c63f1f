//! A type configuration for the library's own unit tests.

openraft::declare_raft_types!(
    /// Strings in, strings out; classic one-leader-per-term leader ids.
    pub TestConfig:
        D = String,
        R = String,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
        AsyncRuntime = twinnet_rt::Runtime,
);
