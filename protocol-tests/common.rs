//! Test harness: a broker on a free loopback port with its own data directory, and a raw client.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct TestBroker {
    running: Option<gregor::Running>,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    overrides: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        TestBroker::start_with(&[]).await
    }

    pub async fn start_with(extra: &[&str]) -> TestBroker {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut overrides =
            vec![format!("listeners=PLAINTEXT://127.0.0.1:{port}"), format!("log.dirs={}", dir.path().display())];
        overrides.extend(extra.iter().map(|s| s.to_string()));
        let mut b = TestBroker { running: None, addr: SocketAddr::from(([127, 0, 0, 1], port)), _dir: dir, overrides };
        b.boot().await;
        b
    }

    async fn boot(&mut self) {
        let config = gregor::Config::load(None, &self.overrides).unwrap();
        self.running = Some(gregor::start(config).await.expect("broker starts"));
    }

    /// Stops the broker cleanly and starts it again on the same port and data.
    pub async fn restart(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        self.boot().await;
    }

    /// Bytes of queued.max.request.bytes not taken by frames being read or handled.
    pub fn queued_bytes_available(&self) -> usize {
        let r = self.running.as_ref().expect("running");
        r.request_budget.as_ref().expect("queued.max.request.bytes is set").available()
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

pub struct Client {
    pub stream: TcpStream,
    correlation_id: i32,
}

/// Long enough for any one request here; a hang fails the test instead of blocking CI.
const RESPONSE_WAIT: Duration = Duration::from_secs(20);

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Client { stream, correlation_id: 0 }
    }

    /// Encodes a request at `version`, sends it and decodes the response.
    pub async fn send(&mut self, version: i16, req: RequestKind) -> ResponseKind {
        let key = api_key_of(&req);
        self.correlation_id += 1;
        let mut header = RequestHeader::default();
        header.request_api_key = key as i16;
        header.request_api_version = version;
        header.correlation_id = self.correlation_id;
        header.client_id = Some(StrBytes::from_static_str("protocol-tests"));
        let mut buf = BytesMut::new();
        header.encode(&mut buf, key.request_header_version(version)).unwrap();
        req.encode(&mut buf, version).unwrap();
        let frame = self.round_trip(&buf).await.unwrap_or_else(|| panic!("{key:?} v{version}: connection closed"));
        let mut body = frame;
        let rh = ResponseHeader::decode(&mut body, key.response_header_version(version)).unwrap();
        assert_eq!(rh.correlation_id, self.correlation_id, "correlation id echoed");
        ResponseKind::decode(key, &mut body, version).unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"))
    }

    /// Sends one frame (size prefix added) and reads one response frame; None if closed.
    pub async fn round_trip(&mut self, body: &[u8]) -> Option<Bytes> {
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        self.write_raw(&frame).await;
        self.read_frame().await
    }

    pub async fn write_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let read = async {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await.ok()?;
            let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
            self.stream.read_exact(&mut buf).await.ok()?;
            Some(Bytes::from(buf))
        };
        tokio::time::timeout(RESPONSE_WAIT, read).await.expect("response within the deadline")
    }

    /// True once the broker has closed this connection.
    pub async fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(tokio::time::timeout(RESPONSE_WAIT, self.stream.read(&mut b)).await, Ok(Ok(0)) | Ok(Err(_)))
    }
}

pub fn api_key_of(req: &RequestKind) -> ApiKey {
    match req {
        RequestKind::Produce(_) => ApiKey::Produce,
        RequestKind::Fetch(_) => ApiKey::Fetch,
        RequestKind::ListOffsets(_) => ApiKey::ListOffsets,
        RequestKind::Metadata(_) => ApiKey::Metadata,
        RequestKind::FindCoordinator(_) => ApiKey::FindCoordinator,
        RequestKind::ApiVersions(_) => ApiKey::ApiVersions,
        RequestKind::CreateTopics(_) => ApiKey::CreateTopics,
        RequestKind::DeleteTopics(_) => ApiKey::DeleteTopics,
        RequestKind::InitProducerId(_) => ApiKey::InitProducerId,
        RequestKind::DescribeConfigs(_) => ApiKey::DescribeConfigs,
        RequestKind::DescribeCluster(_) => ApiKey::DescribeCluster,
        RequestKind::DescribeTopicPartitions(_) => ApiKey::DescribeTopicPartitions,
        RequestKind::JoinGroup(_) => ApiKey::JoinGroup,
        RequestKind::SyncGroup(_) => ApiKey::SyncGroup,
        RequestKind::Heartbeat(_) => ApiKey::Heartbeat,
        RequestKind::LeaveGroup(_) => ApiKey::LeaveGroup,
        RequestKind::OffsetCommit(_) => ApiKey::OffsetCommit,
        RequestKind::OffsetFetch(_) => ApiKey::OffsetFetch,
        RequestKind::DescribeGroups(_) => ApiKey::DescribeGroups,
        RequestKind::ListGroups(_) => ApiKey::ListGroups,
        RequestKind::DeleteGroups(_) => ApiKey::DeleteGroups,
        RequestKind::OffsetDelete(_) => ApiKey::OffsetDelete,
        RequestKind::CreatePartitions(_) => ApiKey::CreatePartitions,
        RequestKind::AlterConfigs(_) => ApiKey::AlterConfigs,
        RequestKind::IncrementalAlterConfigs(_) => ApiKey::IncrementalAlterConfigs,
        RequestKind::DeleteRecords(_) => ApiKey::DeleteRecords,
        RequestKind::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
        RequestKind::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
        RequestKind::EndTxn(_) => ApiKey::EndTxn,
        RequestKind::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
        RequestKind::ListTransactions(_) => ApiKey::ListTransactions,
        RequestKind::DescribeTransactions(_) => ApiKey::DescribeTransactions,
        RequestKind::DescribeProducers(_) => ApiKey::DescribeProducers,
        RequestKind::WriteTxnMarkers(_) => ApiKey::WriteTxnMarkers,
        RequestKind::ElectLeaders(_) => ApiKey::ElectLeaders,
        RequestKind::ListConfigResources(_) => ApiKey::ListConfigResources,
        RequestKind::AlterPartitionReassignments(_) => ApiKey::AlterPartitionReassignments,
        RequestKind::ListPartitionReassignments(_) => ApiKey::ListPartitionReassignments,
        RequestKind::AlterReplicaLogDirs(_) => ApiKey::AlterReplicaLogDirs,
        RequestKind::OffsetForLeaderEpoch(_) => ApiKey::OffsetForLeaderEpoch,
        RequestKind::DescribeLogDirs(_) => ApiKey::DescribeLogDirs,
        RequestKind::ConsumerGroupHeartbeat(_) => ApiKey::ConsumerGroupHeartbeat,
        RequestKind::ConsumerGroupDescribe(_) => ApiKey::ConsumerGroupDescribe,
        RequestKind::DescribeAcls(_) => ApiKey::DescribeAcls,
        RequestKind::CreateAcls(_) => ApiKey::CreateAcls,
        RequestKind::DeleteAcls(_) => ApiKey::DeleteAcls,
        RequestKind::DescribeQuorum(_) => ApiKey::DescribeQuorum,
        RequestKind::AddRaftVoter(_) => ApiKey::AddRaftVoter,
        RequestKind::RemoveRaftVoter(_) => ApiKey::RemoveRaftVoter,
        other => panic!("add {:?} to api_key_of", std::mem::discriminant(other)),
    }
}

pub fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// ApiVersions at `version`, with the client software fields v3+ requires.
pub async fn api_versions(c: &mut Client, version: i16) -> ApiVersionsResponse {
    let req = ApiVersionsRequest::default()
        .with_client_software_name(s("protocol-tests"))
        .with_client_software_version(s("1.0"));
    let ResponseKind::ApiVersions(r) = c.send(version, RequestKind::ApiVersions(req)).await else { unreachable!() };
    r
}

/// Creates a topic and asserts success.
pub async fn create_topic(c: &mut Client, topic: &str, partitions: i32) -> uuid::Uuid {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = name(topic);
    t.num_partitions = partitions;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let ResponseKind::CreateTopics(r) = c.send(7, RequestKind::CreateTopics(req)).await else { unreachable!() };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    r.topics[0].topic_id
}

/// A v2 record batch with `n` records; `pid`/`seq` -1 for non-idempotent.
pub fn batch(n: usize, pid: i64, epoch: i16, seq: i32, compression: Compression) -> Bytes {
    batch_with(n, pid, epoch, seq, compression, false)
}

/// A transactional batch of `n` records.
pub fn txn_batch(n: usize, pid: i64, epoch: i16, seq: i32) -> Bytes {
    batch_with(n, pid, epoch, seq, Compression::None, true)
}

fn batch_with(n: usize, pid: i64, epoch: i16, seq: i32, compression: Compression, transactional: bool) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: seq + i as i32, // base sequence -1 for non-idempotent batches
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("value-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, records.iter(), &RecordEncodeOptions { version: 2, compression }).unwrap();
    buf.freeze()
}

/// Produces `records` to one partition and returns (error code, base offset).
pub async fn produce(c: &mut Client, version: i16, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
    let pr = produce_partition(c, version, topic, partition, records).await;
    (pr.error_code, pr.base_offset)
}

/// Produces `records` to one partition and returns its whole answer.
pub async fn produce_partition(
    c: &mut Client,
    version: i16,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> produce_response::PartitionProduceResponse {
    let mut p = produce_request::PartitionProduceData::default();
    p.index = partition;
    p.records = Some(records);
    let mut t = produce_request::TopicProduceData::default();
    t.name = name(topic);
    t.partition_data = vec![p];
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 5000;
    req.topic_data = vec![t];
    let ResponseKind::Produce(r) = c.send(version, RequestKind::Produce(req)).await else { unreachable!() };
    r.responses[0].partition_responses[0].clone()
}

/// Decodes the records of a fetch response partition.
pub fn decode_records(records: &Option<Bytes>) -> Vec<Record> {
    let mut b = records.clone().unwrap_or_default();
    kafka_protocol::records::RecordBatchDecoder::decode_all(&mut b)
        .unwrap()
        .into_iter()
        .flat_map(|s| s.records)
        .collect()
}

/// A fetch request for one partition by name (versions below 13).
pub fn fetch_request(topic: &str, partition: i32, offset: i64, wait_ms: i32, min_bytes: i32) -> FetchRequest {
    let mut p = fetch_request::FetchPartition::default();
    p.partition = partition;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    let mut t = fetch_request::FetchTopic::default();
    t.topic = name(topic);
    t.partitions = vec![p];
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = wait_ms;
    req.min_bytes = min_bytes;
    req.max_bytes = 50 << 20;
    req.session_epoch = -1;
    req.topics = vec![t];
    req
}
