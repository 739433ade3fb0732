//! What ending a transaction writes: markers in its partitions (here, or at the partition's
//! leader as WriteTxnMarkers) and the completion of its groups' offsets.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Logs;
use crate::cluster::Image;
use crate::group::{Coordinator, OFFSETS_TOPIC};
use crate::txn::{MarkerError, TxnEffects};

/// `TxnEffects` over the partitions and the group coordinator. In a cluster, markers for
/// partitions (and groups) led by other brokers go to them as WriteTxnMarkers requests.
pub struct BrokerEffects {
    pub(super) logs: Arc<Logs>,
    pub(super) image: Arc<ArcSwap<Image>>,
    pub(super) groups: Arc<Coordinator>,
    pub(super) node_id: i32,
    pub(super) cluster: bool,
}

/// How long another broker may take to write a transaction's markers.
const MARKER_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl BrokerEffects {
    /// The leader of `meta`'s partition if that is another broker (-1 if it has none).
    fn remote_leader(&self, meta: &crate::cluster::PartitionMeta) -> Option<i32> {
        (self.cluster && meta.leader != self.node_id).then_some(meta.leader)
    }

    /// Sends the markers of `topics` (name, partitions) to `node` and checks every answer.
    async fn send_markers(
        &self,
        image: &Image,
        node: i32,
        topics: BTreeMap<String, std::collections::BTreeSet<i32>>,
        (producer_id, epoch, commit): (i64, i16, bool),
        coordinator_epoch: i32,
    ) -> Result<(), MarkerError> {
        use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
        use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
        let remote = |detail: String| MarkerError::Remote { node, detail };
        let b = image
            .brokers
            .get(&node)
            .filter(|_| node >= 0)
            .ok_or_else(|| remote("the partition has no leader".into()))?;
        let mut marker = WritableTxnMarker::default();
        marker.producer_id = ProducerId(producer_id);
        marker.producer_epoch = epoch;
        marker.transaction_result = commit;
        marker.coordinator_epoch = coordinator_epoch;
        marker.topics = topics
            .into_iter()
            .map(|(name, partitions)| {
                let mut t = WritableTxnMarkerTopic::default();
                t.name = TopicName(kafka_protocol::protocol::StrBytes::from_string(name));
                t.partition_indexes = partitions.into_iter().collect();
                t
            })
            .collect();
        let mut req = WriteTxnMarkersRequest::default();
        req.markers = vec![marker];
        let addr = format!("{}:{}", b.host, b.port);
        let client_id = format!("gregor-txn-{}", self.node_id);
        let resp = crate::protocol::client::call(&addr, &client_id, &req, 1, MARKER_CALL_TIMEOUT)
            .await
            .map_err(|e| remote(e.to_string()))?;
        for m in &resp.markers {
            for t in &m.topics {
                if let Some(p) = t.partitions.iter().find(|p| p.error_code != 0) {
                    return Err(remote(format!("{}-{}: error code {}", t.name.0, p.partition_index, p.error_code)));
                }
            }
        }
        Ok(())
    }
}

impl TxnEffects for BrokerEffects {
    async fn end(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        partitions: &std::collections::BTreeSet<(String, i32)>,
        groups: &std::collections::BTreeSet<String>,
    ) -> Result<(), MarkerError> {
        let image = self.image.load_full();
        let mut remote: BTreeMap<i32, BTreeMap<String, std::collections::BTreeSet<i32>>> = BTreeMap::new();
        for (topic, index) in partitions {
            // A deleted topic has nothing left to mark.
            let Some(meta) = image.topics.get(topic).and_then(|t| t.partition(*index)) else { continue };
            if let Some(node) = self.remote_leader(meta) {
                remote.entry(node).or_default().entry(topic.clone()).or_default().insert(*index);
                continue;
            }
            let (topic, index) = (topic.clone(), *index);
            let p = self.logs.partition(meta.uid).map_err(|source| MarkerError::Store {
                topic: topic.clone(),
                index,
                source,
            })?;
            p.write_marker(producer_id, epoch, commit, coordinator_epoch).map_err(|source| MarkerError::Partition {
                topic,
                index,
                source,
            })?;
        }
        for g in groups {
            let index = self.groups.partition_for(g);
            let meta = image.topics.get(OFFSETS_TOPIC).and_then(|t| t.partition(index));
            if let Some(node) = meta.and_then(|m| self.remote_leader(m)) {
                remote.entry(node).or_default().entry(OFFSETS_TOPIC.to_string()).or_default().insert(index);
                continue;
            }
            self.groups
                .complete_txn(g, producer_id, epoch, commit)
                .await
                .map_err(|source| MarkerError::Group { group: g.clone(), source })?;
        }
        for (node, topics) in remote {
            self.send_markers(&image, node, topics, (producer_id, epoch, commit), coordinator_epoch).await?;
        }
        Ok(())
    }
}
