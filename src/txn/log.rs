//! Records of `__transaction_state` in Kafka's layouts: TransactionLogKey v0 (the
//! transactional id) and TransactionLogValue v0.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::state::{TxnMeta, TxnState};

pub fn encode_key(txn_id: &str) -> Bytes {
    let mut k = BytesMut::new();
    k.put_i16(0);
    k.put_i16(txn_id.len() as i16);
    k.put_slice(txn_id.as_bytes());
    k.freeze()
}

pub fn decode_key(mut k: Bytes) -> Option<String> {
    if k.remaining() < 4 || k.get_i16() != 0 {
        return None;
    }
    let n = k.get_i16();
    if n < 0 || k.remaining() < n as usize {
        return None;
    }
    String::from_utf8(k.split_to(n as usize).to_vec()).ok()
}

pub fn encode_value(m: &TxnMeta) -> Bytes {
    let mut v = BytesMut::new();
    v.put_i16(0);
    v.put_i64(m.producer_id);
    v.put_i16(m.epoch);
    v.put_i32(m.timeout_ms);
    v.put_i8(m.state as i8);
    // Partitions grouped by topic; groups of the transaction as partitions of "" (ours).
    let mut by_topic: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
    for (t, p) in &m.partitions {
        by_topic.entry(t.as_str()).or_default().push(*p);
    }
    v.put_i32(by_topic.len() as i32);
    for (t, ps) in by_topic {
        v.put_i16(t.len() as i16);
        v.put_slice(t.as_bytes());
        v.put_i32(ps.len() as i32);
        for p in ps {
            v.put_i32(p);
        }
    }
    v.put_i64(m.updated_ms);
    v.put_i64(m.started_ms);
    // Tagged-field-free trailer of our own: the consumer groups in the transaction.
    v.put_i32(m.groups.len() as i32);
    for g in &m.groups {
        v.put_i16(g.len() as i16);
        v.put_slice(g.as_bytes());
    }
    v.freeze()
}

fn get_str(v: &mut Bytes) -> Option<String> {
    if v.remaining() < 2 {
        return None;
    }
    let n = v.get_i16();
    if n < 0 || v.remaining() < n as usize {
        return None;
    }
    String::from_utf8(v.split_to(n as usize).to_vec()).ok()
}

pub fn decode_value(id: &str, mut v: Bytes) -> Option<TxnMeta> {
    if v.remaining() < 2 + 8 + 2 + 4 + 1 + 4 {
        return None;
    }
    let _version = v.get_i16();
    let producer_id = v.get_i64();
    let epoch = v.get_i16();
    let timeout_ms = v.get_i32();
    let state = TxnState::from_code(v.get_i8())?;
    let topics = v.get_i32();
    let mut m = TxnMeta::new(id, producer_id, timeout_ms, 0);
    m.epoch = epoch;
    m.state = state;
    for _ in 0..topics.max(0) {
        let t = get_str(&mut v)?;
        if v.remaining() < 4 {
            return None;
        }
        let n = v.get_i32();
        for _ in 0..n.max(0) {
            if v.remaining() < 4 {
                return None;
            }
            m.partitions.insert((t.clone(), v.get_i32()));
        }
    }
    if v.remaining() >= 16 {
        m.updated_ms = v.get_i64();
        m.started_ms = v.get_i64();
    }
    if v.remaining() >= 4 {
        let n = v.get_i32();
        for _ in 0..n.max(0) {
            m.groups.insert(get_str(&mut v)?);
        }
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut m = TxnMeta::new("app-1", 42, 60_000, 7);
        m.epoch = 3;
        m.state = TxnState::Ongoing;
        m.started_ms = 5;
        m.partitions.insert(("a".into(), 1));
        m.partitions.insert(("a".into(), 0));
        m.groups.insert("g".into());
        assert_eq!(decode_key(encode_key("app-1")).as_deref(), Some("app-1"));
        assert_eq!(decode_value("app-1", encode_value(&m)), Some(m));
    }
}
