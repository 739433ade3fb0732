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
    let state = |rep: &crate::cluster::QuorumReplica| {
        let mut s = ReplicaState::default();
        s.replica_id = BrokerId(rep.id);
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
        // Every node of the quorum with the listener it is reached on.
        let image = broker.image();
        let name = broker.config.listeners.first().map_or("PLAINTEXT".to_string(), |l| l.name.clone());
        r.nodes = q
            .voters
            .iter()
            .chain(&q.observers)
            .filter_map(|rep| {
                let info = image.brokers.get(&rep.id)?;
                let mut l = Listener::default();
                l.name = str_bytes(name.clone());
                l.host = str_bytes(info.host.clone());
                l.port = info.port;
                let mut n = Node::default();
                n.node_id = BrokerId(rep.id);
                n.listeners = vec![l];
                Some(n)
            })
            .collect();
    }
    r
}
