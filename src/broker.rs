//! Wiring: the store, the metadata group and the open partitions, shared by every connection.

use std::collections::BTreeMap;
use std::sync::Arc;

use dashmap::DashMap;
use thiserror::Error;
use uuid::Uuid;

use crate::cluster::{BrokerInfo, Command, CommandResult, Image, Metadata, MetadataError, Topic};
use crate::config::Config;
use crate::log::rocks::{RocksStore, open_db};
use crate::log::{Partition, Store, StoreError};
use crate::protocol::fetch_session::FetchSessions;

#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

/// Producer ids are taken from the metadata log in blocks of this size.
const PRODUCER_ID_BLOCK: i64 = 1000;

pub struct Broker {
    pub config: Config,
    pub metadata: Metadata,
    store: Arc<dyn Store>,
    partitions: DashMap<u64, Arc<Partition>>,
    producer_ids: tokio::sync::Mutex<(i64, i64)>,
    /// Incremental fetch sessions (KIP-227) of all connections.
    pub fetch_sessions: FetchSessions,
}

impl Broker {
    /// Opens the store and the metadata group, registers this node and returns the broker.
    pub async fn start(config: Config) -> Result<Arc<Broker>, StartError> {
        let db = open_db(config.data_dir())?;
        let store: Arc<dyn Store> = Arc::new(RocksStore::new(db.clone()));
        let metadata = Metadata::start(db, config.node_id).await?;
        let broker = Arc::new(Broker {
            config,
            metadata,
            store,
            partitions: DashMap::new(),
            producer_ids: tokio::sync::Mutex::new((0, 0)),
            fetch_sessions: FetchSessions::default(),
        });
        broker.register().await?;
        broker.drop_orphaned_partitions()?;
        Ok(broker)
    }

    async fn register(&self) -> Result<(), MetadataError> {
        let image = self.metadata.image();
        if image.cluster_id.is_empty() {
            let id = self.config.cluster_id.clone().unwrap_or_else(new_cluster_id);
            self.metadata.submit(Command::SetClusterId { id }).await?;
        }
        let (host, port) = self.config.advertised();
        let info = BrokerInfo { host, port, rack: None };
        if image.brokers.get(&self.config.node_id) != Some(&info) {
            self.metadata.submit(Command::RegisterBroker { id: self.config.node_id, info }).await?;
        }
        Ok(())
    }

    /// Data of partitions whose topic was deleted while the broker was down is removed.
    fn drop_orphaned_partitions(&self) -> Result<(), StoreError> {
        let image = self.metadata.image();
        let live: std::collections::HashSet<u64> =
            image.topics.values().flat_map(|t| t.partitions.iter().map(|p| p.uid)).collect();
        for uid in self.store.partition_uids()? {
            if !live.contains(&uid) {
                tracing::info!(uid, "removing data of a deleted partition");
                self.store.delete_partition(uid)?;
            }
        }
        Ok(())
    }

    pub fn image(&self) -> Arc<Image> {
        self.metadata.image()
    }

    /// The open partition with this storage id, opening it on first use.
    pub fn partition(&self, uid: u64) -> Result<Arc<Partition>, StoreError> {
        if let Some(p) = self.partitions.get(&uid) {
            return Ok(p.clone());
        }
        let sync = self.config.log_flush_interval_messages == 1;
        let entry = self.partitions.entry(uid);
        match entry {
            dashmap::Entry::Occupied(o) => Ok(o.get().clone()),
            dashmap::Entry::Vacant(v) => {
                let p = Arc::new(Partition::open(uid, self.store.clone(), sync)?);
                v.insert(p.clone());
                Ok(p)
            }
        }
    }

    /// Creates a topic; `Ok(None)` if it already exists.
    pub async fn create_topic(
        &self,
        name: &str,
        assignment: Vec<Vec<i32>>,
        configs: BTreeMap<String, String>,
    ) -> Result<Option<Topic>, MetadataError> {
        let cmd = Command::CreateTopic { name: name.to_string(), id: Uuid::new_v4(), assignment, configs };
        match self.metadata.submit(cmd).await? {
            CommandResult::TopicCreated { .. } => Ok(self.image().topics.get(name).cloned()),
            _ => Ok(None),
        }
    }

    /// Deletes a topic and its data; `Ok(false)` if there was no such topic.
    pub async fn delete_topic(&self, name: &str) -> Result<bool, MetadataError> {
        match self.metadata.submit(Command::DeleteTopic { name: name.to_string() }).await? {
            CommandResult::TopicDeleted { uids } => {
                for uid in uids {
                    self.partitions.remove(&uid);
                    if let Err(e) = self.store.delete_partition(uid) {
                        // Left for the start-up sweep of orphaned partitions.
                        tracing::warn!(uid, error = %e, "could not delete partition data");
                    }
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// A fresh producer id, from a block reserved through the metadata log.
    pub async fn next_producer_id(&self) -> Result<i64, MetadataError> {
        let mut ids = self.producer_ids.lock().await;
        if ids.0 >= ids.1 {
            match self.metadata.submit(Command::AllocateProducerIds { count: PRODUCER_ID_BLOCK }).await? {
                CommandResult::ProducerIds { first } => *ids = (first, first + PRODUCER_ID_BLOCK),
                other => return Err(MetadataError::Write(format!("unexpected result {other:?}"))),
            }
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    pub async fn shutdown(&self) {
        self.metadata.shutdown().await;
    }
}

/// A Kafka-style cluster id: 16 random bytes, URL-safe base64 without padding.
fn new_cluster_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = Uuid::new_v4().into_bytes();
    let mut bits: u128 = u128::from_be_bytes(bytes);
    (0..22)
        .map(|_| {
            let c = ALPHABET[(bits & 63) as usize] as char;
            bits >>= 6;
            c
        })
        .collect()
}
