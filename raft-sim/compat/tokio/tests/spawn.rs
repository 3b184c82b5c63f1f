//! A panicking task ends alone, as in tokio: the simulation goes on and
//! the handle says the task panicked.
#![cfg(madsim)]

use std::time::Duration;

#[madsim::test]
async fn a_panicking_task_ends_alone() {
    let panicking = twinnet_tokio::spawn(async {
        twinnet_tokio::time::sleep(Duration::from_millis(5)).await;
        panic!("handler gave up");
    });
    let healthy = twinnet_tokio::spawn(async {
        twinnet_tokio::time::sleep(Duration::from_millis(10)).await;
        7
    });
    let err = panicking.await.expect_err("the task panicked");
    assert!(err.is_panic() && !err.is_cancelled());
    assert!(err.to_string().contains("handler gave up"), "{err}");
    assert_eq!(healthy.await.expect("still runs"), 7);
}
