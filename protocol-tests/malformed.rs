//! Bad input closes only the offending connection; the broker keeps serving others.

use crate::common::*;

async fn still_serves(b: &TestBroker) {
    let mut c = b.client().await;
    let r = api_versions(&mut c, 3).await;
    assert_eq!(r.error_code, 0);
}

#[tokio::test]
async fn bad_frames_close_the_connection_only() {
    let b = TestBroker::start_with(&["socket.request.max.bytes=1000"]).await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("negative length", (-5i32).to_be_bytes().to_vec()),
        ("oversize length", 5000i32.to_be_bytes().to_vec()),
        ("too short for a header", [&3i32.to_be_bytes()[..], &[0, 18, 0]].concat()),
        ("unknown api key", [&8i32.to_be_bytes()[..], &[0x7f, 0x00, 0, 0, 0, 0, 0, 1]].concat()),
        ("unsupported version", [&8i32.to_be_bytes()[..], &[0, 3, 0x00, 99, 0, 0, 0, 1]].concat()),
        ("unsupported produce v0", [&8i32.to_be_bytes()[..], &[0, 0, 0, 0, 0, 0, 0, 1]].concat()),
        ("garbage body", [&12i32.to_be_bytes()[..], &[0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]].concat()),
    ];
    for (what, bytes) in cases {
        let mut c = b.client().await;
        c.write_raw(&bytes).await;
        assert!(c.is_closed().await, "{what}: connection should be closed");
        still_serves(&b).await;
    }
    b.stop().await;
}

#[tokio::test]
async fn truncated_body_then_hangup_is_survived() {
    let b = TestBroker::start().await;
    {
        let mut c = b.client().await;
        c.write_raw(&[&100i32.to_be_bytes()[..], &[0, 18, 0, 3]].concat()).await;
    }
    still_serves(&b).await;
    b.stop().await;
}
