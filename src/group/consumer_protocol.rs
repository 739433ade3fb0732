//! The "consumer" embedded protocol carried by classic JoinGroup and SyncGroup: subscriptions
//! (topics, owned partitions, rack) and assignments, read and written with kafka-protocol.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Partitions by topic name.
pub type NamedPartitions = Vec<(String, Vec<i32>)>;

/// A decoded ConsumerProtocolSubscription.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    pub version: i16,
    pub topics: Vec<String>,
    pub owned: NamedPartitions,
    pub rack_id: Option<String>,
}

/// Decodes a subscription; None if it does not decode.
pub fn subscription(metadata: &Bytes) -> Option<Subscription> {
    let mut b = metadata.clone();
    if b.remaining() < 2 {
        return None;
    }
    let version = b.get_i16();
    let sub = ConsumerProtocolSubscription::decode(&mut b, version.clamp(0, 3)).ok()?;
    Some(Subscription {
        version,
        topics: sub.topics.iter().map(|t| t.to_string()).collect(),
        owned: sub.owned_partitions.iter().map(|o| (o.topic.to_string(), o.partitions.clone())).collect(),
        rack_id: sub.rack_id.map(|r| r.to_string()),
    })
}

/// Topics of a ConsumerProtocolSubscription; None if it does not decode.
pub fn subscription_topics(metadata: &Bytes) -> Option<Vec<String>> {
    subscription(metadata).map(|s| s.topics)
}

/// Encodes a subscription in `version` (clamped to what the schema has), as JoinGroup carries it.
pub fn encode_subscription(version: i16, topics: &[&str], owned: &NamedPartitions) -> Bytes {
    use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
    let version = version.clamp(0, 3);
    let mut sub = ConsumerProtocolSubscription::default();
    sub.topics = topics.iter().map(|t| StrBytes::from_string(t.to_string())).collect();
    sub.owned_partitions = owned
        .iter()
        .map(|(t, ps)| {
            let mut o = OwnedTopic::default();
            o.topic = TopicName(StrBytes::from_string(t.clone()));
            o.partitions = ps.clone();
            o
        })
        .collect();
    let mut out = BytesMut::new();
    out.put_i16(version);
    sub.encode(&mut out, version).expect("a subscription always encodes");
    out.freeze()
}

/// Encodes an assignment in `version` (clamped to what the schema has), as SyncGroup carries it.
pub fn encode_assignment(version: i16, partitions: &NamedPartitions) -> Bytes {
    let version = version.clamp(0, 3);
    let mut a = ConsumerProtocolAssignment::default();
    a.assigned_partitions = partitions
        .iter()
        .map(|(t, ps)| {
            let mut tp = AssignedTopic::default();
            tp.topic = TopicName(StrBytes::from_string(t.clone()));
            tp.partitions = ps.clone();
            tp
        })
        .collect();
    let mut out = BytesMut::new();
    out.put_i16(version);
    a.encode(&mut out, version).expect("an assignment always encodes");
    out.freeze()
}

/// Decodes an assignment; None if it does not decode (an empty one is a valid empty assignment).
pub fn assignment(bytes: &Bytes) -> Option<NamedPartitions> {
    if bytes.is_empty() {
        return Some(vec![]);
    }
    let mut b = bytes.clone();
    if b.remaining() < 2 {
        return None;
    }
    let version = b.get_i16();
    let a = ConsumerProtocolAssignment::decode(&mut b, version.clamp(0, 3)).ok()?;
    Some(a.assigned_partitions.iter().map(|t| (t.topic.to_string(), t.partitions.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_round_trip_in_every_version() {
        let parts = vec![("a".to_string(), vec![0, 2]), ("b".to_string(), vec![1])];
        for v in 0..=3 {
            assert_eq!(assignment(&encode_assignment(v, &parts)), Some(parts.clone()), "version {v}");
        }
        assert_eq!(assignment(&Bytes::new()), Some(vec![]));
        assert_eq!(assignment(&Bytes::from_static(&[0])), None);
    }
}
