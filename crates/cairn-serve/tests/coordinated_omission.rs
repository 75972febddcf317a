//! The load tester against a server that stalls 1 s in every 5 s (the wrk2 scenario): at
//! 1,000 requests/s the corrected p99 shows the stall, the uncorrected one (what a closed-loop
//! tester such as Locust reports) hides it.

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use cairn_serve::loadtest::{LoadSpec, run};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// A server on 127.0.0.1 answering at once, except that a request arriving in the last second
/// of each 5-second period waits until the period ends.
fn stalling_server() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let start = Instant::now();
            let app = Router::new().route(
                "/invocations",
                post(move || async move {
                    let period = Duration::from_secs(5);
                    let phase = Duration::from_nanos(
                        (start.elapsed().as_nanos() % period.as_nanos()) as u64,
                    );
                    if phase >= Duration::from_secs(4) {
                        tokio::time::sleep(period - phase).await;
                    }
                    "{\"predictions\":[0]}"
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

#[test]
fn corrected_latency_shows_the_stall_the_uncorrected_hides() {
    let addr = stalling_server();
    let spec = LoadSpec {
        addr,
        path: "/invocations".into(),
        bodies: vec![Bytes::from_static(b"{\"inputs\":[[1]]}")],
        content_type: "application/json".into(),
        headers: vec![],
        rate: 1000.0,
        duration: Duration::from_secs(10),
        connections: 8,
        timeout: Duration::from_secs(5),
    };
    let r = run(spec, &mut |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(r.scheduled, 10_000);
    assert_eq!(r.ok, r.completed, "errors: {:?}", r.errors);
    assert!(r.completed >= 9_900, "{} of 10000 answered", r.completed);
    // Two stalls of 1 s in 10 s: a fifth of the requests were due while the server stood still.
    assert!(
        r.corrected.p99 >= 500_000,
        "corrected p99 {} µs should show the 1 s stall",
        r.corrected.p99
    );
    assert!(
        r.uncorrected.p99 < 50_000,
        "uncorrected p99 {} µs should stay near the service time",
        r.uncorrected.p99
    );
    assert!(
        r.corrected.max >= 900_000,
        "corrected max {}",
        r.corrected.max
    );
}
