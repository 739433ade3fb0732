//! WriteTxnMarkers: commit or abort markers written to partitions on a coordinator's (or an
//! admin's, `kafka-transactions.sh abort`) request. Markers for `__consumer_offsets` partitions
//! complete the transactional offset commits of the groups kept there.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::group::OFFSETS_TOPIC;
use crate::handlers::errors;

pub const VERSIONS: (i16, i16) = (1, 1);

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
    let image = broker.image();
    let mut r = WriteTxnMarkersResponse::default();
    for marker in req.markers {
        let (pid, epoch, commit) = (marker.producer_id.0, marker.producer_epoch, marker.transaction_result);
        let mut out = WritableTxnMarkerResult::default();
        out.producer_id = marker.producer_id;
        for t in marker.topics {
            let topic = image.topics.get(t.name.0.as_str());
            let mut tr = WritableTxnMarkerTopicResult::default();
            tr.name = t.name.clone();
            for index in t.partition_indexes {
                let meta = topic.and_then(|tp| tp.partition(index));
                let error = match meta {
                    // No producer has a negative id; the store keys producer state by it.
                    _ if pid < 0 => Some(ResponseError::InvalidRequest),
                    None => Some(ResponseError::UnknownTopicOrPartition),
                    Some(m) if !broker.leads(m) => Some(ResponseError::NotLeaderOrFollower),
                    Some(_) if t.name.0.as_str() == OFFSETS_TOPIC => {
                        match broker.groups.complete_txn_partition(index, pid, epoch, commit).await {
                            Ok(()) => None,
                            Err(e) => {
                                tracing::warn!(partition = index, error = %e, "offsets marker not written");
                                Some(ResponseError::UnknownServerError)
                            }
                        }
                    }
                    Some(m) => match broker.partition(m.uid) {
                        Err(e) => Some(errors::store_error(&e)),
                        Ok(p) => p.write_marker(pid, epoch, commit, marker.coordinator_epoch).err().map(|e| {
                            tracing::debug!(topic = %t.name.0, partition = index, error = %e, "marker refused");
                            errors::append_error(&e)
                        }),
                    },
                };
                let mut pr = WritableTxnMarkerPartitionResult::default();
                pr.partition_index = index;
                pr.error_code = error.map_or(0, |e| e.code());
                tr.partitions.push(pr);
            }
            out.topics.push(tr);
        }
        r.markers.push(out);
    }
    r
}
