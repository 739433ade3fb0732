//! Records of the internal topic `__consumer_offsets`, in Kafka's own key and value layouts so
//! Kafka tooling can read them: OffsetCommitKey v1 / OffsetCommitValue v3 and GroupMetadataKey v2 /
//! GroupMetadataValue v3 (with the members of a stable group and their assignments, so that a
//! coordinator taking the group over keeps them, as Kafka's does).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

/// Group metadata worth keeping across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMeta {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub timestamp_ms: i64,
    /// The members of a stable group; empty while it rebalances or has none.
    pub members: Vec<MemberMeta>,
}

/// A member as GroupMetadataValue keeps it: its subscription for the group's protocol and its
/// assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMeta {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_i32(v.len() as i32);
    b.put_slice(v);
}

fn get_bytes(b: &mut Bytes) -> Option<Bytes> {
    if b.remaining() < 4 {
        return None;
    }
    let n = b.get_i32();
    if n < 0 {
        return Some(Bytes::new());
    }
    if b.remaining() < n as usize {
        return None;
    }
    Some(b.split_to(n as usize))
}

fn get_i32(b: &mut Bytes) -> Option<i32> {
    (b.remaining() >= 4).then(|| b.get_i32())
}

fn get_member(v: &mut Bytes) -> Option<MemberMeta> {
    Some(MemberMeta {
        member_id: get_str(v)?,
        instance_id: get_nullable(v)?,
        client_id: get_str(v)?,
        client_host: get_str(v)?,
        rebalance_timeout_ms: get_i32(v)?,
        session_timeout_ms: get_i32(v)?,
        subscription: get_bytes(v)?,
        assignment: get_bytes(v)?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Offset { group: String, topic: String, partition: i32, value: Option<Committed> },
    Group { group: String, value: Option<GroupMeta> },
}

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn put_nullable(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

fn get_str(b: &mut Bytes) -> Option<String> {
    if b.remaining() < 2 {
        return None;
    }
    let n = b.get_i16();
    if n < 0 {
        return Some(String::new());
    }
    if b.remaining() < n as usize {
        return None;
    }
    String::from_utf8(b.split_to(n as usize).to_vec()).ok()
}

fn get_nullable(b: &mut Bytes) -> Option<Option<String>> {
    if b.remaining() < 2 {
        return None;
    }
    if i16::from_be_bytes([b[0], b[1]]) < 0 {
        b.advance(2);
        return Some(None);
    }
    get_str(b).map(Some)
}

impl Record {
    pub fn group_id(&self) -> &str {
        match self {
            Record::Offset { group, .. } | Record::Group { group, .. } => group,
        }
    }

    pub fn encode(&self) -> (Bytes, Option<Bytes>) {
        let mut k = BytesMut::new();
        match self {
            Record::Offset { group, topic, partition, value } => {
                k.put_i16(1);
                put_str(&mut k, group);
                put_str(&mut k, topic);
                k.put_i32(*partition);
                let v = value.as_ref().map(|c| {
                    let mut v = BytesMut::new();
                    v.put_i16(3);
                    v.put_i64(c.offset);
                    v.put_i32(c.leader_epoch);
                    put_str(&mut v, &c.metadata);
                    v.put_i64(c.commit_timestamp_ms);
                    v.freeze()
                });
                (k.freeze(), v)
            }
            Record::Group { group, value } => {
                k.put_i16(2);
                put_str(&mut k, group);
                let v = value.as_ref().map(|g| {
                    let mut v = BytesMut::new();
                    v.put_i16(3);
                    put_str(&mut v, &g.protocol_type);
                    v.put_i32(g.generation);
                    put_nullable(&mut v, g.protocol.as_deref());
                    put_nullable(&mut v, g.leader.as_deref());
                    v.put_i64(g.timestamp_ms);
                    v.put_i32(g.members.len() as i32);
                    for m in &g.members {
                        put_str(&mut v, &m.member_id);
                        put_nullable(&mut v, m.instance_id.as_deref());
                        put_str(&mut v, &m.client_id);
                        put_str(&mut v, &m.client_host);
                        v.put_i32(m.rebalance_timeout_ms);
                        v.put_i32(m.session_timeout_ms);
                        put_bytes(&mut v, &m.subscription);
                        put_bytes(&mut v, &m.assignment);
                    }
                    v.freeze()
                });
                (k.freeze(), v)
            }
        }
    }

    /// Decodes a stored record; None for layouts this broker does not know.
    pub fn decode(mut key: Bytes, value: Option<Bytes>) -> Option<Record> {
        if key.remaining() < 2 {
            return None;
        }
        match key.get_i16() {
            0 | 1 => {
                let group = get_str(&mut key)?;
                let topic = get_str(&mut key)?;
                if key.remaining() < 4 {
                    return None;
                }
                let partition = key.get_i32();
                let value = match value {
                    None => None,
                    Some(mut v) => {
                        if v.remaining() < 2 + 8 + 4 {
                            return None;
                        }
                        let version = v.get_i16();
                        let offset = v.get_i64();
                        let leader_epoch = if version >= 3 { v.get_i32() } else { -1 };
                        let metadata = get_str(&mut v)?;
                        let commit_timestamp_ms = if v.remaining() >= 8 { v.get_i64() } else { -1 };
                        Some(Committed { offset, leader_epoch, metadata, commit_timestamp_ms })
                    }
                };
                Some(Record::Offset { group, topic, partition, value })
            }
            2 => {
                let group = get_str(&mut key)?;
                let value = match value {
                    None => None,
                    Some(mut v) => {
                        if v.remaining() < 2 {
                            return None;
                        }
                        let _version = v.get_i16();
                        let protocol_type = get_str(&mut v)?;
                        if v.remaining() < 4 {
                            return None;
                        }
                        let generation = v.get_i32();
                        let protocol = get_nullable(&mut v)?;
                        let leader = get_nullable(&mut v)?;
                        let timestamp_ms = if v.remaining() >= 8 { v.get_i64() } else { -1 };
                        // Members (v3 layout); a record without them, or cut short, has none.
                        let count = get_i32(&mut v).unwrap_or(0).max(0);
                        let members = (0..count).map_while(|_| get_member(&mut v)).collect::<Vec<_>>();
                        let members = if members.len() == count as usize { members } else { Vec::new() };
                        Some(GroupMeta { protocol_type, generation, protocol, leader, timestamp_ms, members })
                    }
                };
                Some(Record::Group { group, value })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let recs = [
            Record::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 3,
                value: Some(Committed { offset: 42, leader_epoch: 1, metadata: "m".into(), commit_timestamp_ms: 9 }),
            },
            Record::Offset { group: "g".into(), topic: "t".into(), partition: 3, value: None },
            Record::Group {
                group: "g".into(),
                value: Some(GroupMeta {
                    protocol_type: "consumer".into(),
                    generation: 5,
                    protocol: Some("range".into()),
                    leader: Some("m-1".into()),
                    timestamp_ms: 1,
                    members: vec![MemberMeta {
                        member_id: "m-1".into(),
                        instance_id: Some("i".into()),
                        client_id: "c".into(),
                        client_host: "/127.0.0.1".into(),
                        rebalance_timeout_ms: 300_000,
                        session_timeout_ms: 45_000,
                        subscription: Bytes::from_static(b"sub"),
                        assignment: Bytes::from_static(b"assigned"),
                    }],
                }),
            },
        ];
        for r in recs {
            let (k, v) = r.encode();
            assert_eq!(Record::decode(k, v), Some(r));
        }
        assert_eq!(Record::decode(Bytes::from_static(&[0, 9]), None), None);
    }
}
