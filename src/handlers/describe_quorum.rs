//! DescribeQuorum (KIP-595): the metadata raft group, reported as Kafka reports its
//! `__cluster_metadata` quorum. gregor's metadata log is an openraft group; its term is the
//! leader epoch and its applied index the high watermark.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::*;

use super::{RequestContext, str_bytes};
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (0, 2);

pub const METADATA_TOPIC: &str = "__cluster_metadata";

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: DescribeQuorumRequest) -> DescribeQuorumResponse {
    let mut r = DescribeQuorumResponse::default();
    // Any node answers with the leader's view, as a Kafka broker forwards the request to the
    // active controller; NOT_LEADER_OR_FOLLOWER only when no leader answers.
    let q = broker.metadata.leader_quorum().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let me = q.answered_by;
    let image = broker.image();
    let state = |rep: &crate::cluster::QuorumReplica| {
        let mut s = ReplicaState::default();
        s.replica_id = BrokerId(rep.id);
        if ctx.version >= 2 {
            // A dynamic quorum's voter key (KIP-853); zero in a static quorum, as in Kafka.
            s.replica_directory_id = image.voter_directories.get(&rep.id).copied().unwrap_or_default();
        }
        s.log_end_offset = rep.log_end_offset;
        // The leader has its own log in hand; of the others it knows only what they matched.
        let seen = if rep.id == me && q.leader == Some(me) { now } else { -1 };
        s.last_fetch_timestamp = seen;
        s.last_caught_up_timestamp = seen;
        s
    };
    for t in req.topics {
        let mut out = TopicData::default();
        out.topic_name = t.topic_name.clone();
        for p in t.partitions {
            let mut pd = PartitionData::default();
            pd.partition_index = p.partition_index;
            if t.topic_name.0.as_str() != METADATA_TOPIC || p.partition_index != 0 {
                pd.error_code = ResponseError::UnknownTopicOrPartition.code();
                pd.leader_id = BrokerId(-1);
                pd.leader_epoch = -1;
                pd.high_watermark = -1;
            } else if q.leader != Some(me) {
                pd.error_code = ResponseError::NotLeaderOrFollower.code();
                pd.leader_id = BrokerId(q.leader.unwrap_or(-1));
                pd.leader_epoch = q.term;
                pd.high_watermark = -1;
            } else {
                pd.leader_id = BrokerId(me);
                pd.leader_epoch = q.term;
                pd.high_watermark = q.high_watermark;
                pd.current_voters = q.voters.iter().map(state).collect();
                pd.observers = q.observers.iter().map(state).collect();
            }
            out.partitions.push(pd);
        }
        r.topics.push(out);
    }
    if ctx.version >= 2 {
        // Every node of the quorum with the listener it is reached on: a voter's controller
        // listener, an observer's (a broker-only node's) broker listener.
        let q_keys = &broker.config.quorum;
        let controller_name = q_keys.controller_listener_names.first().cloned().unwrap_or("CONTROLLER".into());
        let broker_name = broker
            .config
            .listeners
            .iter()
            .find(|l| q_keys.serves_clients(l))
            .map_or("PLAINTEXT".to_string(), |l| l.name.clone());
        let controllers = broker.metadata.controllers();
        let node = |id: i32, name: &str, host: &str, port: u16| {
            let mut l = Listener::default();
            l.name = str_bytes(name);
            l.host = str_bytes(host);
            l.port = port;
            let mut n = Node::default();
            n.node_id = BrokerId(id);
            n.listeners = vec![l];
            n
        };
        let voters = q.voters.iter().filter_map(|rep| match controllers.iter().find(|(id, _, _)| *id == rep.id) {
            Some((id, host, port)) => Some(node(*id, &controller_name, host, *port)),
            // A node alone: its own listener.
            None => image.brokers.get(&rep.id).map(|b| node(rep.id, &broker_name, &b.host, b.port)),
        });
        let observers = q
            .observers
            .iter()
            .filter_map(|rep| image.brokers.get(&rep.id).map(|b| node(rep.id, &broker_name, &b.host, b.port)));
        r.nodes = voters.chain(observers).collect();
    }
    r
}
