//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete, and offsets committed inside a
//! producer's transaction (TxnOffsetCommit) until its marker makes them count or drops them.

use super::*;
use crate::log::internal::{write, write_marker};

impl Coordinator {
    /// Commits offsets after the member and generation checks of the classic protocol.
    /// `generation < 0` with an empty member id is a simple (assign-mode) commit.
    pub async fn commit(
        &self,
        group: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        offsets: Vec<(String, i32, Committed)>,
    ) -> Result<(), GroupError> {
        let entry = self.entry(group);
        let mut e = entry.lock().await;
        let simple = generation < 0 && member_id.is_empty();
        if let Some(cg) = e.consumer.as_ref().filter(|c| !c.members.is_empty()) {
            if simple {
                return Err(GroupError::UnknownMemberId);
            }
            cg.check_commit(member_id, generation)?;
        } else if simple {
            if !e.group.members.is_empty() || e.group.state != GroupState::Empty {
                return Err(GroupError::UnknownMemberId);
            }
        } else {
            e.group.check_member(member_id, instance_id, generation)?;
            // As Kafka's classic group: a member of the current generation may still commit
            // while the group prepares a rebalance (what it processed before it gives its
            // partitions up, from its revoke callback); only between the joins and the
            // assignment is a commit refused.
            if e.group.state == GroupState::CompletingRebalance {
                return Err(GroupError::RebalanceInProgress);
            }
        }
        let recs = offset_records(group, &offsets);
        write(&*self.log, self.partition_for(group), recs, None).await.map_err(|err| {
            tracing::warn!(group, error = %err, "offset commit not persisted");
            GroupError::from(err)
        })?;
        for (t, p, c) in offsets {
            e.offsets.insert((t, p), c);
        }
        Ok(())
    }

    /// Committed offsets of a group, all or for the given partitions.
    pub async fn fetch_offsets(&self, group: &str) -> BTreeMap<(String, i32), Committed> {
        match self.existing(group) {
            Some(entry) => entry.lock().await.offsets.clone(),
            None => BTreeMap::new(),
        }
    }

    /// Partitions with offsets committed inside a still-open transaction (require_stable).
    pub async fn pending_txn_partitions(&self, group: &str) -> std::collections::HashSet<(String, i32)> {
        match self.existing(group) {
            Some(entry) => entry.lock().await.pending_txn.values().flat_map(|m| m.keys().cloned()).collect(),
            None => Default::default(),
        }
    }

    /// TxnOffsetCommit: offsets written inside a producer's transaction; they count once the
    /// transaction commits (`complete_txn`).
    pub async fn txn_commit(
        &self,
        group: &str,
        producer: (i64, i16),
        member: (&str, Option<&str>, i32),
        offsets: Vec<(String, i32, Committed)>,
    ) -> Result<(), GroupError> {
        let entry = self.entry(group);
        let mut e = entry.lock().await;
        let (member_id, instance_id, generation) = member;
        if generation >= 0 || !member_id.is_empty() {
            if let Some(cg) = e.consumer.as_ref().filter(|c| !c.members.is_empty()) {
                cg.check_commit(member_id, generation)?;
            } else {
                e.group.check_member(member_id, instance_id, generation)?;
            }
        }
        let recs = offset_records(group, &offsets);
        write(&*self.log, self.partition_for(group), recs, Some(producer)).await.map_err(|err| {
            tracing::warn!(group, error = %err, "transactional offset commit not persisted");
            GroupError::from(err)
        })?;
        let pending = e.pending_txn.entry(producer.0).or_default();
        for (t, p, c) in offsets {
            pending.insert((t, p), c);
        }
        Ok(())
    }

    /// Ends a producer's transaction in a group: its marker is written and its offsets count
    /// (commit) or are dropped (abort).
    pub async fn complete_txn(
        &self,
        group: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(), InternalLogError> {
        let entry = self.entry(group);
        let mut e = entry.lock().await;
        write_marker(&*self.log, self.partition_for(group), producer_id, epoch, commit).await?;
        let pending = e.pending_txn.remove(&producer_id).unwrap_or_default();
        if commit {
            e.offsets.extend(pending);
        }
        Ok(())
    }

    /// A marker written to partition `index` of `__consumer_offsets` (WriteTxnMarkers): the
    /// producer's pending offsets in the groups kept there count (commit) or are dropped.
    pub async fn complete_txn_partition(
        &self,
        index: i32,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(), InternalLogError> {
        let entries: Vec<Arc<Mutex<Entry>>> =
            self.groups.iter().filter(|e| self.partition_for(e.key()) == index).map(|e| e.value().clone()).collect();
        write_marker(&*self.log, index, producer_id, epoch, commit).await?;
        for entry in entries {
            let mut e = entry.lock().await;
            let pending = e.pending_txn.remove(&producer_id).unwrap_or_default();
            if commit {
                e.offsets.extend(pending);
            }
        }
        Ok(())
    }

    /// OffsetDelete: removes committed offsets of partitions the group does not consume.
    pub async fn delete_offsets(
        &self,
        group: &str,
        partitions: Vec<(String, i32)>,
    ) -> Result<Vec<((String, i32), Option<GroupError>)>, GroupError> {
        let entry = self.existing(group).ok_or(GroupError::GroupIdNotFound)?;
        let mut e = entry.lock().await;
        if e.group.state == GroupState::Dead {
            return Err(GroupError::GroupIdNotFound);
        }
        if !e.group.is_empty() && e.group.protocol_type.as_deref() != Some("consumer") && e.consumer.is_none() {
            return Err(GroupError::NonEmptyGroup);
        }
        let subscribed = match e.consumer.as_ref() {
            Some(cg) => cg.subscribed_topics(&(self.topics)()).into_iter().collect(),
            None => e.group.subscribed_topics().unwrap_or_default(),
        };
        let mut out = Vec::new();
        let mut recs = Vec::new();
        for (t, p) in partitions {
            if subscribed.contains(&t) {
                out.push(((t, p), Some(GroupError::GroupSubscribedToTopic)));
                continue;
            }
            if e.offsets.contains_key(&(t.clone(), p)) {
                recs.push(
                    Record::Offset { group: group.to_string(), topic: t.clone(), partition: p, value: None }.encode(),
                );
            }
            out.push(((t, p), None));
        }
        if !recs.is_empty() {
            write(&*self.log, self.partition_for(group), recs, None).await?;
            for ((t, p), err) in &out {
                if err.is_none() {
                    e.offsets.remove(&(t.clone(), *p));
                }
            }
        }
        Ok(out)
    }
}
