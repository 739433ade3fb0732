//! TxnOffsetCommit: offsets that count only if the producer's transaction commits.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::RequestContext;
use super::offset_commit::checked_commit;
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (0, 5);

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let image = broker.image();
    let now = crate::now_ms();
    // The transaction must have added the group (AddOffsetsToTxn) with this producer.
    let producer = (req.producer_id.0, req.producer_epoch);
    let txn_id = req.transactional_id.0.as_str();
    let txn_ok = match super::coordinates(broker, req.group_id.0.as_str(), false) {
        Err(e) => Err(e),
        // Where this node also coordinates the transaction, it checks that the transaction added
        // the group; in a cluster whose transaction coordinator is another node, the group
        // coordinator takes the commit on the producer's id and epoch, as Kafka's did before
        // KIP-890.
        Ok(()) if super::coordinates(broker, txn_id, true).is_ok() => {
            broker.txns.verify_group(txn_id, producer, req.group_id.0.as_str()).await.map_err(ResponseError::from)
        }
        Ok(()) => Ok(()),
    };
    let mut valid = Vec::new();
    let mut codes = Vec::new();
    for t in &req.topics {
        let topic = image.topics.get(t.name.0.as_str());
        let mut tc = Vec::new();
        for p in &t.partitions {
            let metadata = p.committed_metadata.as_deref();
            match checked_commit(topic, p.partition_index, p.committed_offset, p.committed_leader_epoch, metadata, now)
            {
                Ok(c) => {
                    valid.push((t.name.0.to_string(), p.partition_index, c));
                    tc.push(0);
                }
                Err(e) => tc.push(e.code()),
            }
        }
        codes.push(tc);
    }
    let group_result = match txn_ok {
        Err(e) => Err(e),
        Ok(()) if valid.is_empty() => Ok(()),
        Ok(()) => {
            let member = (req.member_id.as_str(), req.group_instance_id.as_deref(), req.generation_id);
            broker
                .groups
                .txn_commit(req.group_id.0.as_str(), (req.producer_id.0, req.producer_epoch), member, valid)
                .await
                .map_err(ResponseError::from)
        }
    };
    let group_code = group_result.err().map(|e| e.code()).unwrap_or(0);
    let mut r = TxnOffsetCommitResponse::default();
    for (t, tc) in req.topics.iter().zip(codes) {
        let mut out = TxnOffsetCommitResponseTopic::default();
        out.name = t.name.clone();
        out.partitions = t
            .partitions
            .iter()
            .zip(tc)
            .map(|(p, code)| {
                let mut pr = TxnOffsetCommitResponsePartition::default();
                pr.partition_index = p.partition_index;
                pr.error_code = if code != 0 { code } else { group_code };
                pr
            })
            .collect();
        r.topics.push(out);
    }
    r
}
