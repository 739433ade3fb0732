//! The transaction coordinator: one `TxnMeta` per transactional id behind its own lock, kept in
//! `__transaction_state` and replayed on start-up. Markers and group offsets are written through
//! `TxnEffects`, which the broker implements over its partitions and group coordinator.

use std::sync::Arc;
use std::time::Duration;

use crate::txn::TxnError;
use dashmap::DashMap;
use tokio::sync::Mutex;

use super::log;
use super::state::{EndAction, TxnMeta, TxnPartition, TxnState};
use crate::log::internal::{InternalLog, InternalLogError, LoggedRecord};
use crate::now_ms;

/// What ending a transaction does outside the coordinator.
pub trait TxnEffects: Send + Sync + 'static {
    /// Writes the markers of `producer_id` at `epoch` to the partitions and ends its offsets in
    /// the groups, as the coordinator of `coordinator_epoch` (the leader epoch of the
    /// transactional id's partition of `__transaction_state`: a partition refuses markers of an
    /// older coordinator); errors name what failed.
    fn end(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        partitions: &std::collections::BTreeSet<TxnPartition>,
        groups: &std::collections::BTreeSet<String>,
    ) -> impl std::future::Future<Output = Result<(), MarkerError>> + Send;
}

/// A transaction marker that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error("partition {topic}-{index}: {source}")]
    Partition { topic: String, index: i32, source: crate::log::AppendError },
    #[error("partition {topic}-{index}: {source}")]
    Store { topic: String, index: i32, source: crate::log::StoreError },
    #[error("group {group}: {source}")]
    Group { group: String, source: InternalLogError },
    /// Another broker of the cluster, which leads some of the partitions, did not write them.
    #[error("markers for broker {node}: {detail}")]
    Remote { node: i32, detail: String },
}

/// How often open transactions are checked against their timeout.
const TIMEOUT_CHECK: Duration = Duration::from_millis(500);

pub struct TxnCoordinator {
    txns: DashMap<String, Arc<Mutex<TxnMeta>>>,
    log: Arc<dyn InternalLog>,
    partitions: i32,
    pub timeout_ms_max: i32,
    /// transactional.id.expiration.ms: an id idle this long in a completed state is forgotten.
    expiration_ms: i64,
    /// In a cluster: the partitions of `__transaction_state` led here, whose transactional ids
    /// this node coordinates.
    pub ownership: crate::log::internal::Ownership,
}

impl TxnCoordinator {
    pub fn new(
        log: Arc<dyn InternalLog>,
        partitions: i32,
        timeout_ms_max: i32,
        expiration_ms: i64,
    ) -> Arc<TxnCoordinator> {
        Arc::new(TxnCoordinator {
            txns: DashMap::new(),
            log,
            partitions,
            timeout_ms_max,
            expiration_ms,
            ownership: Default::default(),
        })
    }

    pub fn partition_for(&self, txn_id: &str) -> i32 {
        crate::log::internal::partition_for(txn_id, self.partitions)
    }

    /// Replays `__transaction_state` (a lone node, at start-up). Transactions found prepared
    /// are completed by `recover`.
    pub fn load(&self) -> Result<(), InternalLogError> {
        for p in 0..self.partitions {
            self.load_partition(p)?;
        }
        Ok(())
    }

    /// Rebuilds the transactional ids kept in partition `p` from its records, replacing what
    /// was known of them; `recover` then completes those found prepared (re-sends markers).
    pub fn load_partition(&self, p: i32) -> Result<(), InternalLogError> {
        let mut loaded: std::collections::HashMap<String, TxnMeta> = Default::default();
        self.log.replay(p, &mut |r: LoggedRecord| {
            let Some(id) = log::decode_key(r.key) else { return };
            match r.value.and_then(|v| log::decode_value(&id, v)) {
                Some(m) => {
                    loaded.insert(id, m);
                }
                None => {
                    loaded.remove(&id);
                }
            }
        })?;
        self.txns.retain(|id, _| self.partition_for(id) != p);
        for (id, m) in loaded {
            self.txns.insert(id, Arc::new(Mutex::new(m)));
        }
        Ok(())
    }

    /// Forgets the transactional ids of partition `p`: another node coordinates them now.
    pub fn unload_partition(&self, p: i32) {
        self.txns.retain(|id, _| self.partition_for(id) != p);
    }

    /// Writes a transaction's state and waits for the in-sync replicas to have it. Callers change
    /// the state they hold only once this succeeded: a transition the log did not take is not
    /// made, and the client's retry makes it again.
    async fn persist(&self, m: &TxnMeta) -> Result<(), TxnError> {
        let rec = (log::encode_key(&m.id), Some(log::encode_value(m)));
        crate::log::internal::write(&*self.log, self.partition_for(&m.id), vec![rec], None).await.map_err(|e| {
            tracing::warn!(txn = %m.id, error = %e, "transaction state not persisted");
            TxnError::from(e)
        })
    }

    pub fn get(&self, txn_id: &str) -> Option<Arc<Mutex<TxnMeta>>> {
        self.txns.get(txn_id).map(|e| e.clone())
    }

    /// A copy of a transactional id's state (DescribeTransactions).
    pub async fn describe(&self, txn_id: &str) -> Option<TxnMeta> {
        let entry = self.get(txn_id)?;
        let m = entry.lock().await;
        Some(m.clone())
    }

    /// Checks that `producer` owns `txn_id` and its open transaction holds `partitions`
    /// (AddPartitionsToTxn's verify-only form, KIP-890).
    pub async fn verify_partitions(
        &self,
        txn_id: &str,
        producer: (i64, i16),
        partitions: &[TxnPartition],
    ) -> Result<(), TxnError> {
        let entry = self.get(txn_id).ok_or(TxnError::InvalidProducerIdMapping)?;
        let m = entry.lock().await;
        m.check_producer(producer.0, producer.1)?;
        if partitions.iter().all(|p| m.partitions.contains(p)) { Ok(()) } else { Err(TxnError::InvalidTxnState) }
    }

    /// Checks that `producer` owns `txn_id` and its transaction added `group`
    /// (AddOffsetsToTxn), before a TxnOffsetCommit.
    pub async fn verify_group(&self, txn_id: &str, producer: (i64, i16), group: &str) -> Result<(), TxnError> {
        let entry = self.get(txn_id).ok_or(TxnError::InvalidProducerIdMapping)?;
        let m = entry.lock().await;
        m.check_producer(producer.0, producer.1)?;
        if m.groups.contains(group) { Ok(()) } else { Err(TxnError::InvalidTxnState) }
    }

    /// InitProducerId with a transactional id: a new producer id, or the next epoch of the
    /// existing one (aborting its open transaction first), fencing older producers.
    pub async fn init_producer_id<E: TxnEffects>(
        &self,
        effects: &E,
        txn_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        new_producer_id: impl Fn() -> futures::future::BoxFuture<'static, Result<i64, TxnError>> + Send,
    ) -> Result<(i64, i16), TxnError> {
        if timeout_ms <= 0 || timeout_ms > self.timeout_ms_max {
            return Err(TxnError::InvalidTransactionTimeout);
        }
        let entry = match self.get(txn_id) {
            Some(e) => e,
            None => {
                let pid = new_producer_id().await?;
                let meta = TxnMeta::new(txn_id, pid, timeout_ms, now_ms());
                self.txns.entry(txn_id.to_string()).or_insert_with(|| Arc::new(Mutex::new(meta))).clone()
            }
        };
        let mut m = entry.lock().await;
        if let Some((pid, epoch)) = expected
            && (pid != m.producer_id || epoch != m.epoch)
        {
            // KIP-360: only the current producer may recover its own id.
            return Err(TxnError::ProducerFenced);
        }
        if matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(TxnError::ConcurrentTransactions);
        }
        if m.state == TxnState::Ongoing {
            self.abort_locked(effects, &mut m, "a new producer with the same transactional id").await?;
        }
        let mut next = m.clone();
        if next.epoch >= i16::MAX - 1 {
            next.producer_id = new_producer_id().await?;
            next.epoch = -1;
        }
        next.epoch += 1;
        next.timeout_ms = timeout_ms;
        next.state = TxnState::Empty;
        // A new epoch has no transaction yet.
        next.started_ms = -1;
        next.partitions.clear();
        next.groups.clear();
        next.updated_ms = now_ms();
        self.persist(&next).await?;
        *m = next;
        Ok((m.producer_id, m.epoch))
    }

    /// Aborts an open transaction with a bumped epoch, which fences its producer.
    async fn abort_locked<E: TxnEffects>(&self, effects: &E, m: &mut TxnMeta, why: &str) -> Result<(), TxnError> {
        tracing::info!(txn = %m.id, reason = why, "aborting open transaction");
        let mut next = m.clone();
        next.epoch += 1;
        next.state = TxnState::PrepareAbort;
        self.persist(&next).await?;
        *m = next;
        // Decided; until the recovery loop has written the markers, the producer is told to
        // wait and retry.
        self.finish(effects, m, false).await.map_err(|_| TxnError::ConcurrentTransactions)
    }

    async fn finish<E: TxnEffects>(&self, effects: &E, m: &mut TxnMeta, commit: bool) -> Result<(), TxnError> {
        let coordinator_epoch = self.ownership.epoch(self.partition_for(&m.id)).unwrap_or(0);
        if let Err(e) = effects.end(m.producer_id, m.epoch, commit, coordinator_epoch, &m.partitions, &m.groups).await {
            tracing::warn!(txn = %m.id, error = %e, "could not write transaction markers");
            return Err(TxnError::CoordinatorNotAvailable);
        }
        let mut next = m.clone();
        next.complete(now_ms());
        self.persist(&next).await?;
        *m = next;
        Ok(())
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn.
    pub async fn add(
        &self,
        txn_id: &str,
        producer: (i64, i16),
        partitions: &[TxnPartition],
        group: Option<&str>,
    ) -> Result<(), TxnError> {
        let entry = self.get(txn_id).ok_or(TxnError::InvalidProducerIdMapping)?;
        let mut m = entry.lock().await;
        let mut next = m.clone();
        next.add(producer.0, producer.1, partitions, group, now_ms())?;
        if next != *m {
            self.persist(&next).await?;
            *m = next;
        }
        Ok(())
    }

    /// EndTxn: writes the markers and completes the transaction.
    pub async fn end<E: TxnEffects>(
        &self,
        effects: &E,
        txn_id: &str,
        producer: (i64, i16),
        commit: bool,
    ) -> Result<(), TxnError> {
        let entry = self.get(txn_id).ok_or(TxnError::InvalidProducerIdMapping)?;
        let mut m = entry.lock().await;
        let mut next = m.clone();
        match next.end(producer.0, producer.1, commit, now_ms())? {
            EndAction::AlreadyDone => Ok(()),
            EndAction::WriteMarkers { .. } => {
                self.persist(&next).await?;
                *m = next;
                // As in Kafka, the transaction is decided once its prepare record is in: markers
                // that cannot be written now are written by the recovery loop, and the
                // producer's next transaction waits for them (CONCURRENT_TRANSACTIONS). Telling
                // the client the coordinator is gone would send it looking for another.
                if let Err(e) = self.finish(effects, &mut m, commit).await {
                    tracing::info!(txn = %m.id, error = ?e, "transaction decided; its markers are written later");
                }
                Ok(())
            }
        }
    }

    /// Completes transactions found prepared at start-up; aborts expired open ones.
    pub async fn recover<E: TxnEffects>(&self, effects: &E) {
        let entries: Vec<Arc<Mutex<TxnMeta>>> = self.txns.iter().map(|e| e.value().clone()).collect();
        let now = now_ms();
        for entry in entries {
            let mut m = entry.lock().await;
            let result = match m.state {
                TxnState::PrepareCommit => self.finish(effects, &mut m, true).await,
                TxnState::PrepareAbort => self.finish(effects, &mut m, false).await,
                TxnState::Ongoing if m.expired(now) => {
                    self.abort_locked(effects, &mut m, "transaction.timeout.ms passed").await
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!(txn = %m.id, error = ?e, "transaction not completed yet; will retry");
            }
        }
        self.expire(now).await;
    }

    /// Forgets transactional ids unused for transactional.id.expiration.ms while no transaction
    /// is open: a tombstone in `__transaction_state`, as Kafka writes.
    async fn expire(&self, now: i64) {
        let entries: Vec<(String, Arc<Mutex<TxnMeta>>)> =
            self.txns.iter().map(|e| (e.key().clone(), e.value().clone())).collect();
        for (id, entry) in entries {
            let m = entry.lock().await;
            let idle = matches!(m.state, TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort);
            if !idle || m.updated_ms.saturating_add(self.expiration_ms) > now {
                continue;
            }
            let tombstone = vec![(log::encode_key(&id), None)];
            if let Err(e) = crate::log::internal::write(&*self.log, self.partition_for(&id), tombstone, None).await {
                tracing::warn!(txn = %id, error = %e, "expired transactional id not removed; will retry");
                continue;
            }
            tracing::info!(txn = %id, "transactional id expired (transactional.id.expiration.ms)");
            drop(m);
            self.txns.remove(&id);
        }
    }

    /// Checks open transactions against their timeouts until the coordinator is dropped.
    pub fn spawn_timeouts<E: TxnEffects>(self: &Arc<Self>, effects: &Arc<E>) {
        let weak = Arc::downgrade(self);
        let effects = Arc::downgrade(effects);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(TIMEOUT_CHECK).await;
                let (Some(c), Some(effects)) = (weak.upgrade(), effects.upgrade()) else { return };
                c.recover(effects.as_ref()).await;
            }
        });
    }

    /// Every transaction: (id, producer id, state, partitions, started ms, timeout ms).
    pub async fn list(&self) -> Vec<TxnMeta> {
        let entries: Vec<Arc<Mutex<TxnMeta>>> = self.txns.iter().map(|e| e.value().clone()).collect();
        let mut out = Vec::new();
        for e in entries {
            out.push(e.lock().await.clone());
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}
