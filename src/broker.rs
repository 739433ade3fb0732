//! Wiring: the store, the metadata group, the open partitions and the group coordinator,
//! shared by every connection.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use dashmap::DashMap;
use thiserror::Error;
use uuid::Uuid;

use crate::cluster::{BrokerInfo, Command, CommandResult, Image, Metadata, MetadataError, PeerGate, Topic};
use crate::config::Config;
use crate::group::consumer::{ConsumerGroupConfig, TopicView};
use crate::group::{Coordinator, GroupConfig, OFFSETS_TOPIC};
use crate::log::internal::InternalLogError;
use crate::log::rocks::{RocksStore, open_db};
use crate::log::settings::LogSettings;
use crate::log::{Partition, Store, StoreError};
use crate::protocol::fetch_session::FetchSessions;
use crate::txn::{TXN_TOPIC, TxnCoordinator};

mod effects;
mod internal;
pub mod meta_properties;
mod quorum;
mod replica;
mod retention;

pub use effects::BrokerEffects;
use internal::InternalTopicLog;

pub use replica::FollowerRead;

#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("cannot load consumer groups: {0}")]
    Groups(InternalLogError),
    #[error("cannot load transactions: {0}")]
    Txns(InternalLogError),
}

/// Producer ids are taken from the metadata log in blocks of this size.
const PRODUCER_ID_BLOCK: i64 = 1000;

/// The open partition logs, by storage id.
pub struct Logs {
    store: Arc<dyn Store>,
    partitions: DashMap<u64, Arc<Partition>>,
    sync_writes: bool,
}

impl Logs {
    /// Expires idle producers in every open partition; returns how many were forgotten.
    pub fn expire_producers(&self, expiration_ms: i64) -> Result<usize, StoreError> {
        let now = crate::now_ms();
        let open: Vec<Arc<Partition>> = self.partitions.iter().map(|e| e.value().clone()).collect();
        let mut n = 0;
        for p in open {
            n += p.expire_producers(now, expiration_ms)?;
        }
        Ok(n)
    }

    /// The open partition with this storage id, opening it on first use.
    pub fn partition(&self, uid: u64) -> Result<Arc<Partition>, StoreError> {
        if let Some(p) = self.partitions.get(&uid) {
            return Ok(p.clone());
        }
        match self.partitions.entry(uid) {
            dashmap::Entry::Occupied(o) => Ok(o.get().clone()),
            dashmap::Entry::Vacant(v) => {
                let p = Arc::new(Partition::open(uid, self.store.clone(), self.sync_writes)?);
                v.insert(p.clone());
                Ok(p)
            }
        }
    }

    fn delete(&self, uid: u64) -> Result<(), StoreError> {
        self.partitions.remove(&uid);
        self.store.delete_partition(uid)
    }
}

pub struct Broker {
    pub config: Config,
    pub metadata: Metadata,
    logs: Arc<Logs>,
    producer_ids: Arc<ProducerIds>,
    /// Incremental fetch sessions (KIP-227) of all connections.
    pub fetch_sessions: FetchSessions,
    /// The group coordinator; this node coordinates every group.
    pub groups: Arc<Coordinator>,
    /// The transaction coordinator; this node coordinates every transactional id.
    pub txns: Arc<TxnCoordinator>,
    /// What ending a transaction writes: markers and group offsets.
    pub txn_effects: Arc<BrokerEffects>,
    /// Every topic's parsed settings, for the image they were parsed from.
    settings: ArcSwapOption<TopicSettings>,
    /// Partition replication: followers' progress as a leader, fetchers as a follower.
    replicas: Arc<replica::Replicas>,
    /// Set when the broker shuts down: background tasks stop.
    stopping: std::sync::atomic::AtomicBool,
}

/// The log settings of every topic of one metadata image, parsed once when that image is first
/// asked about: a produce request looks its topics up, it parses nothing.
pub struct TopicSettings {
    image: Arc<Image>,
    by_topic: HashMap<String, Arc<LogSettings>>,
}

impl TopicSettings {
    pub fn of(&self, topic: &str) -> Option<&Arc<LogSettings>> {
        self.by_topic.get(topic)
    }
}

/// Producer ids, handed out from blocks reserved through the metadata log.
pub struct ProducerIds {
    metadata: Metadata,
    block: tokio::sync::Mutex<(i64, i64)>,
}

impl ProducerIds {
    pub async fn next(&self) -> Result<i64, MetadataError> {
        let mut ids = self.block.lock().await;
        if ids.0 >= ids.1 {
            match self.metadata.submit(Command::AllocateProducerIds { count: PRODUCER_ID_BLOCK }).await? {
                CommandResult::ProducerIds { first } => *ids = (first, first + PRODUCER_ID_BLOCK),
                other => return Err(MetadataError::Unexpected(other)),
            }
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }
}

impl Broker {
    /// Opens the store and the metadata group, registers this node, loads consumer groups.
    pub async fn start(config: Config) -> Result<Arc<Broker>, StartError> {
        Broker::start_with(config, None).await
    }

    /// `start`, with the peer connections of this node's client listeners (a broker-only node
    /// of a cluster) let through `gate` to the metadata group as soon as it exists.
    pub async fn start_with(config: Config, gate: Option<&PeerGate>) -> Result<Arc<Broker>, StartError> {
        let db = open_db(config.data_dir())?;
        let store: Arc<dyn Store> = Arc::new(RocksStore::new(db.clone()));
        let directory_id = meta_properties::directory_id(config.data_dir())
            .map_err(|e| StoreError::Io(format!("read {}/meta.properties: {e}", config.data_dir().display())))?;
        let metadata = Metadata::start(db, quorum::metadata_options(&config, directory_id), gate).await?;
        let producer_ids = Arc::new(ProducerIds { metadata: metadata.clone(), block: tokio::sync::Mutex::new((0, 0)) });
        let logs =
            Arc::new(Logs { store, partitions: DashMap::new(), sync_writes: config.log_flush_interval_messages == 1 });
        let group_log = Arc::new(InternalTopicLog::new(OFFSETS_TOPIC, &logs, metadata.image_handle(), &config));
        let group_cfg = GroupConfig {
            session_timeout_ms_min: config.group_min_session_timeout_ms,
            session_timeout_ms_max: config.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
            group_size_max: config.group_max_size as usize,
        };
        let consumer_cfg = ConsumerGroupConfig {
            heartbeat_interval_ms: config.group_consumer_heartbeat_interval_ms,
            session_timeout_ms: config.group_consumer_session_timeout_ms,
            assignors: config.group_consumer_assignors.clone(),
            group_size_max: config.group_max_size as usize,
        };
        let image = metadata.image_handle();
        let topics = Arc::new(move || -> TopicView {
            let img = image.load();
            // Internal topics too: a member may subscribe to them by name or regex, as in Kafka.
            img.topics.values().map(|t| (t.name.clone(), (t.id, t.partitions.len() as i32))).collect()
        });
        let groups =
            Coordinator::new(group_cfg, consumer_cfg, topics, config.offsets_topic_num_partitions, group_log.clone());
        let image = metadata.image_handle();
        groups.set_group_timings(Arc::new(move |group: &str| {
            crate::group::configs::consumer_timings(image.load().group_configs.get(group))
        }));
        let txn_log = Arc::new(InternalTopicLog::new(TXN_TOPIC, &logs, metadata.image_handle(), &config));
        let txns = TxnCoordinator::new(
            txn_log.clone(),
            config.transaction_state_log_num_partitions,
            config.transaction_max_timeout_ms,
            config.transactional_id_expiration_ms,
        );
        let txn_effects = Arc::new(BrokerEffects {
            logs: logs.clone(),
            image: metadata.image_handle(),
            groups: groups.clone(),
            node_id: config.node_id,
            cluster: metadata.is_cluster(),
        });
        let fetch_sessions = FetchSessions::new(config.fetch_session_slots);
        let broker = Arc::new(Broker {
            config,
            metadata,
            logs,
            producer_ids,
            fetch_sessions,
            groups,
            txns,
            txn_effects,
            settings: ArcSwapOption::empty(),
            replicas: Arc::default(),
            stopping: false.into(),
        });
        for log in [&group_log, &txn_log] {
            let _ = log.broker.set(Arc::downgrade(&broker));
        }
        if broker.config.quorum.broker {
            broker.register().await?;
        }
        let dir = broker.config.data_dir();
        if let Err(e) = meta_properties::write(dir, &broker.image().cluster_id, broker.config.node_id, directory_id) {
            tracing::warn!(dir = %dir.display(), error = %e, "could not write meta.properties");
        }
        broker.drop_orphaned_partitions()?;
        if broker.metadata.is_cluster() {
            // The coordinators load their partitions as leaderships come here.
            broker.spawn_image_follower();
            broker.spawn_replication();
            broker.spawn_coordination();
        } else {
            if broker.image().topics.contains_key(OFFSETS_TOPIC) {
                broker.groups.load().map_err(StartError::Groups)?;
            }
            if broker.image().topics.contains_key(TXN_TOPIC) {
                broker.txns.load().map_err(StartError::Txns)?;
                broker.txns.recover(broker.txn_effects.as_ref()).await;
            }
        }
        broker.groups.spawn_ticker();
        broker.txns.spawn_timeouts(&broker.txn_effects);
        broker.spawn_retention();
        broker.spawn_producer_expiry();
        Ok(broker)
    }

    /// Forgets idle producers' state in every open partition every
    /// producer.id.expiration.check.interval.ms, so that a client minting producer ids cannot
    /// grow it without bound.
    fn spawn_producer_expiry(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let every = std::time::Duration::from_millis(self.config.producer_id_expiration_check_interval_ms as u64);
        let expiration_ms = self.config.producer_id_expiration_ms;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(b) = weak.upgrade() else { return };
                let pass = tokio::task::spawn_blocking(move || b.logs.expire_producers(expiration_ms)).await;
                match pass {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(producers = n, "expired idle producers (producer.id.expiration.ms)"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "producer expiry failed"),
                    Err(e) => tracing::warn!(error = %e, "producer expiry task failed"),
                }
            }
        });
    }

    async fn register(&self) -> Result<(), MetadataError> {
        let image = self.metadata.image();
        let (host, port) = self.config.advertised();
        let info = BrokerInfo { host, port, rack: self.config.broker_rack.clone() };
        // In a cluster a node registers at every start: the write also brings its metadata up to
        // date (it returns once this node has applied the log up to it).
        if self.metadata.is_cluster() || image.brokers.get(&self.config.node_id) != Some(&info) {
            self.metadata.submit(Command::RegisterBroker { id: self.config.node_id, info }).await?;
        }
        // The first node to find no cluster id writes one. In a cluster that is asked only once
        // this node's metadata is current (after its registration): a node back with an empty
        // store (its data dir lost) must not propose an id of its own before it has the cluster's.
        if self.metadata.image().cluster_id.is_empty() {
            let id = self.config.cluster_id.clone().unwrap_or_else(new_cluster_id);
            self.metadata.submit(Command::SetClusterId { id }).await?;
        }
        if self.metadata.is_cluster() {
            // A node starts fenced, as in Kafka. One back from a crash (or with its data lost)
            // must not lead, nor count in an ISR, with a log that may lack what it had
            // acknowledged: the fence moves its leaderships and ISR places away (a no-op after a
            // controlled shutdown), and its first heartbeat unfences it as a follower that
            // catches up and joins the ISRs again (Kafka removes a broker back from an unclean
            // shutdown from the ISRs the same way). Its metadata is only known to be current
            // after its registration, so the fence is always written.
            self.metadata.submit(Command::FenceBroker { id: self.config.node_id }).await?;
        }
        Ok(())
    }

    /// Data of partitions whose topic was deleted while the broker was down is removed.
    fn drop_orphaned_partitions(&self) -> Result<(), StoreError> {
        let image = self.metadata.image();
        let live: std::collections::HashSet<u64> =
            image.topics.values().flat_map(|t| t.partitions.iter().map(|p| p.uid)).collect();
        for uid in self.logs.store.partition_uids()? {
            if !live.contains(&uid) {
                tracing::info!(uid, "removing data of a deleted partition");
                self.logs.store.delete_partition(uid)?;
            }
        }
        Ok(())
    }

    pub fn image(&self) -> Arc<Image> {
        self.metadata.image()
    }

    /// The controller id clients are told on a broker listener (Metadata, DescribeCluster).
    /// Kafka's brokers name a random live broker, which forwards controller requests to the
    /// active controller; every gregor broker forwards metadata writes to the metadata leader,
    /// so this is the answering broker itself while it is registered. Naming the metadata
    /// leader instead sent admin clients to the node most likely gone: librdkafka waits on the
    /// controller it was told until its next metadata refresh (minutes), seen when the metadata
    /// leader was killed.
    pub fn controller_id(&self, image: &Image) -> i32 {
        let me = self.config.node_id;
        if image.brokers.contains_key(&me) {
            return me;
        }
        let leader = self.metadata.leader().filter(|l| image.brokers.contains_key(l));
        leader.or_else(|| image.brokers.keys().next().copied()).unwrap_or(me)
    }

    /// Every topic's log settings as of `image`, parsed on the first call for that image.
    pub fn topic_settings(&self, image: &Arc<Image>) -> Arc<TopicSettings> {
        if let Some(s) = self.settings.load_full().filter(|s| Arc::ptr_eq(&s.image, image)) {
            return s;
        }
        let defaults = self.defaults(image);
        let by_topic =
            image.topics.values().map(|t| (t.name.clone(), Arc::new(LogSettings::of(&t.configs, &defaults)))).collect();
        let parsed = Arc::new(TopicSettings { image: image.clone(), by_topic });
        self.settings.store(Some(parsed.clone()));
        parsed
    }

    /// What topic configs fall back to: this broker's static and dynamic configs in `image`.
    pub fn defaults<'a>(&'a self, image: &'a Image) -> crate::config::topic::Defaults<'a> {
        crate::config::topic::Defaults {
            config: &self.config,
            per_broker: image.broker_configs.get(&self.config.node_id.to_string()),
            cluster: image.broker_configs.get(""),
        }
    }

    /// Replaces the dynamic broker configs of a scope ("" for the cluster-wide default).
    pub async fn set_broker_configs(
        &self,
        scope: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        self.metadata.submit(Command::SetBrokerConfigs { scope: scope.to_string(), configs }).await?;
        Ok(())
    }

    /// The open partition with this storage id, opening it on first use.
    pub fn partition(&self, uid: u64) -> Result<Arc<Partition>, StoreError> {
        self.logs.partition(uid)
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

    /// Creates `__consumer_offsets` (compacted) on first use of groups, as Kafka does.
    pub async fn ensure_offsets_topic(&self) -> Result<(), MetadataError> {
        if self.image().topics.contains_key(OFFSETS_TOPIC) {
            return Ok(());
        }
        let rf = self.config.replication.offsets_topic_replication_factor;
        let Some((nodes, rf)) = self.internal_topic_brokers(OFFSETS_TOPIC, "offsets.topic.replication.factor", rf)
        else {
            return Ok(());
        };
        let assignment = crate::cluster::placement::assign(&nodes, self.config.offsets_topic_num_partitions, rf);
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("compression.type".to_string(), "producer".to_string()),
            ("segment.bytes".to_string(), "104857600".to_string()),
        ]);
        if self.create_topic(OFFSETS_TOPIC, assignment, configs).await?.is_some() {
            tracing::info!(partitions = self.config.offsets_topic_num_partitions, "created {OFFSETS_TOPIC}");
        }
        Ok(())
    }

    /// The live brokers an internal topic is placed on, or None while a cluster has fewer than
    /// its replication factor (`key`): as in Kafka, the topic is not created with fewer
    /// replicas, and clients are told COORDINATOR_NOT_AVAILABLE until enough brokers are up.
    /// A lone node places it on itself with one replica, whatever `key` says. Returns the
    /// brokers and the replication factor.
    fn internal_topic_brokers(&self, topic: &str, key: &str, rf: i16) -> Option<(Vec<i32>, i16)> {
        let nodes: Vec<i32> = self.image().live_brokers().into_keys().collect();
        if !self.metadata.is_cluster() {
            return Some((nodes, 1));
        }
        if nodes.len() >= rf as usize {
            return Some((nodes, rf));
        }
        tracing::warn!(live = nodes.len(), "{topic} is not created yet: {key}={rf} needs that many live brokers");
        None
    }

    /// Adds partitions to a topic; `Ok(false)` if there is no such topic.
    pub async fn add_partitions(&self, name: &str, assignment: Vec<Vec<i32>>) -> Result<bool, MetadataError> {
        let cmd = Command::AddPartitions { name: name.to_string(), assignment };
        Ok(matches!(self.metadata.submit(cmd).await?, CommandResult::PartitionsAdded { .. }))
    }

    /// Replaces a topic's explicit configs; `Ok(false)` if there is no such topic.
    pub async fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<bool, MetadataError> {
        let cmd = Command::SetTopicConfigs { name: name.to_string(), configs };
        Ok(self.metadata.submit(cmd).await? == CommandResult::Done)
    }

    /// Stores ACL bindings (CreateAcls); already stored ones are kept once.
    pub async fn create_acls(&self, bindings: Vec<crate::cluster::acl::AclBinding>) -> Result<(), MetadataError> {
        self.metadata.submit(Command::CreateAcls { bindings }).await.map(|_| ())
    }

    /// Removes ACL bindings (DeleteAcls).
    pub async fn delete_acls(&self, bindings: Vec<crate::cluster::acl::AclBinding>) -> Result<(), MetadataError> {
        self.metadata.submit(Command::DeleteAcls { bindings }).await.map(|_| ())
    }

    /// Replaces a group's dynamic configs (IncrementalAlterConfigs on a group resource).
    pub async fn set_group_configs(&self, group: &str, configs: BTreeMap<String, String>) -> Result<(), MetadataError> {
        self.metadata.submit(Command::SetGroupConfigs { group: group.to_string(), configs }).await.map(|_| ())
    }

    /// Creates `__transaction_state` (compacted) on first use of transactions, as Kafka does.
    pub async fn ensure_txn_topic(&self) -> Result<(), MetadataError> {
        if self.image().topics.contains_key(TXN_TOPIC) {
            return Ok(());
        }
        let rf = self.config.replication.txn_topic_replication_factor;
        let Some((nodes, rf)) = self.internal_topic_brokers(TXN_TOPIC, "transaction.state.log.replication.factor", rf)
        else {
            return Ok(());
        };
        let count = self.config.transaction_state_log_num_partitions;
        let assignment = crate::cluster::placement::assign(&nodes, count, rf);
        let mut configs = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
        if self.metadata.is_cluster() {
            let min_isr = self.config.replication.txn_topic_min_isr;
            configs.insert("min.insync.replicas".to_string(), min_isr.to_string());
        }
        if self.create_topic(TXN_TOPIC, assignment, configs).await?.is_some() {
            tracing::info!(partitions = count, "created {TXN_TOPIC}");
        }
        Ok(())
    }

    /// Deletes a topic and its data; `Ok(false)` if there was no such topic.
    pub async fn delete_topic(&self, name: &str) -> Result<bool, MetadataError> {
        match self.metadata.submit(Command::DeleteTopic { name: name.to_string() }).await? {
            CommandResult::TopicDeleted { uids } => {
                for uid in uids {
                    if let Err(e) = self.logs.delete(uid) {
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
        self.producer_ids.next().await
    }

    /// The producer-id allocator, for tasks that outlive a borrow of the broker.
    pub fn producer_ids(&self) -> Arc<ProducerIds> {
        self.producer_ids.clone()
    }

    /// Controlled shutdown in a cluster: this broker's leaderships move away (it is fenced)
    /// while its listeners still answer, so clients are told where to go.
    pub async fn leave(&self) {
        self.metadata.leave().await;
    }

    pub async fn shutdown(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        self.replicas.stop_fetchers().await;
        self.metadata.shutdown().await;
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The internal topic and partition that keep a group (`txn` false) or transactional id.
    fn internal_partition_of(&self, key: &str, txn: bool) -> (&'static str, i32) {
        if txn { (TXN_TOPIC, self.txns.partition_for(key)) } else { (OFFSETS_TOPIC, self.groups.partition_for(key)) }
    }

    /// The node that coordinates a group (`txn` false) or a transactional id (`txn` true): the
    /// leader of the key's partition of the internal topic, -1 while it has none. A lone node
    /// coordinates everything; None in a cluster while the internal topic does not exist.
    pub fn coordinator_of(&self, key: &str, txn: bool) -> Option<i32> {
        if !self.metadata.is_cluster() {
            return Some(self.config.node_id);
        }
        let (topic, index) = self.internal_partition_of(key, txn);
        let image = self.image();
        let leader = image.topics.get(topic)?.partition(index)?.leader;
        Some(if image.is_live(leader) { leader } else { -1 })
    }

    /// Whether this broker leads `meta`'s partition: only the leader takes produce and serves
    /// fetches and offsets.
    /// (A lone node leads everything it has, whatever node id its topics were created under.)
    pub fn leads(&self, meta: &crate::cluster::PartitionMeta) -> bool {
        !self.metadata.is_cluster() || meta.leader == self.config.node_id
    }

    /// In a cluster, other nodes change the metadata: data of partitions deleted elsewhere is
    /// removed here too, as the image that drops them is applied.
    fn spawn_image_follower(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let mut last = self.image();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(IMAGE_POLL).await;
                let Some(b) = weak.upgrade() else { return };
                let image = b.image();
                if Arc::ptr_eq(&image, &last) {
                    continue;
                }
                let live: std::collections::HashSet<u64> =
                    image.topics.values().flat_map(|t| t.partitions.iter().map(|p| p.uid)).collect();
                let gone: Vec<u64> = last
                    .topics
                    .values()
                    .flat_map(|t| t.partitions.iter().map(|p| p.uid))
                    .filter(|uid| !live.contains(uid))
                    .collect();
                last = image;
                if gone.is_empty() {
                    continue;
                }
                let logs = b.logs.clone();
                let removed =
                    tokio::task::spawn_blocking(move || gone.into_iter().try_for_each(|uid| logs.delete(uid)));
                match removed.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot remove the data of a deleted partition"),
                    Err(e) => tracing::warn!(error = %e, "removing deleted partitions failed"),
                }
            }
        });
    }
}

/// How often a cluster member looks for metadata changes made elsewhere.
const IMAGE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// A Kafka-style cluster id: 16 random bytes, URL-safe base64 without padding.
fn new_cluster_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits: u128 = u128::from_be_bytes(Uuid::new_v4().into_bytes());
    (0..22)
        .map(|_| {
            let c = ALPHABET[(bits & 63) as usize] as char;
            bits >>= 6;
            c
        })
        .collect()
}
