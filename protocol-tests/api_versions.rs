use kafka_protocol::messages::*;

use crate::common::*;

#[tokio::test]
async fn advertises_the_table_at_every_version() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    for v in 0..=4 {
        let r = api_versions(&mut c, v).await;
        assert_eq!(r.error_code, 0);
        let produce = r.api_keys.iter().find(|k| k.api_key == ApiKey::Produce as i16).expect("Produce advertised");
        assert_eq!((produce.min_version, produce.max_version), (0, 13));
        let fetch = r.api_keys.iter().find(|k| k.api_key == ApiKey::Fetch as i16).expect("Fetch advertised");
        assert_eq!((fetch.min_version, fetch.max_version), (4, 18));
        assert!(r.api_keys.iter().any(|k| k.api_key == ApiKey::DescribeTopicPartitions as i16));
        let scram = ApiKey::DescribeUserScramCredentials as i16;
        assert!(!r.api_keys.iter().any(|k| k.api_key == scram), "no handler, not advertised");
    }
    b.stop().await;
}

#[tokio::test]
async fn unknown_version_gets_v0_answer_with_ranges() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    // ApiVersions v99 with a v2 header: the broker answers in v0 (KIP-511).
    let mut frame = Vec::new();
    frame.extend_from_slice(&(ApiKey::ApiVersions as i16).to_be_bytes());
    frame.extend_from_slice(&99i16.to_be_bytes());
    frame.extend_from_slice(&7i32.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    frame.push(0);
    let mut resp = c.round_trip(&frame).await.expect("answered");
    use kafka_protocol::protocol::Decodable;
    let h = ResponseHeader::decode(&mut resp, 0).unwrap();
    assert_eq!(h.correlation_id, 7);
    let r = ApiVersionsResponse::decode(&mut resp, 0).unwrap();
    assert_eq!(r.error_code, kafka_protocol::ResponseError::UnsupportedVersion.code());
    assert!(r.api_keys.iter().any(|k| k.api_key == ApiKey::ApiVersions as i16 && k.max_version == 4));
    b.stop().await;
}
