//! What a cluster node does on its own, on timers: its broker's heartbeats to the metadata
//! leader and, on the leader, the fencing of silent brokers (broker.session.timeout.ms), unclean
//! leader elections and the preferred-leader rebalance.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::peer::PeerRequest;
use super::{Command, Node, elections};

impl Node {
    /// Every broker.heartbeat.interval.ms: tell the metadata leader this broker is alive.
    pub(super) async fn heartbeats(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let me = self.options.node_id;
        loop {
            if !self.heartbeating.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            match self.leader() {
                Some(l) if l == self.me() => self.heard_from(me),
                Some(l) => {
                    if let Some(addr) = self.address_of(l) {
                        let beat = PeerRequest::Heartbeat { broker: me };
                        if let Err(e) = self.peers.call(&addr, beat, self.options.heartbeat_interval).await {
                            tracing::debug!(error = %e, "heartbeat to the metadata leader failed");
                        }
                    }
                }
                None => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(self.options.heartbeat_interval) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// On the leader: a heartbeat from `broker`.
    pub(super) fn heard_from(&self, broker: i32) {
        self.seen.lock().expect("liveness").insert(broker, Instant::now());
    }

    /// On the leader: fence every broker not heard from within broker.session.timeout.ms, and
    /// unfence a fenced one that heartbeats again. A node that just became leader gives every
    /// broker a full session first.
    pub(super) async fn fence_silent_brokers(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let tick = (self.options.heartbeat_interval / 2).clamp(Duration::from_millis(50), Duration::from_millis(500));
        let mut leading = false;
        // When this leader first saw each broker fenced: only a heartbeat after it unfences.
        let mut fenced_since: HashMap<i32, Instant> = HashMap::new();
        let mut last_tick = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stop.changed() => return,
            }
            let now = Instant::now();
            // This process did not run for a while (SIGSTOP, a stalled VM): the silence it
            // measured is its own, so every broker gets a full session again.
            let stalled = now.duration_since(last_tick) > self.options.session_timeout / 2;
            last_tick = now;
            if self.leader() != Some(self.me()) {
                leading = false;
                continue;
            }
            let image = self.image.load_full();
            let (silent, back) = {
                let mut seen = self.seen.lock().expect("liveness");
                if !leading || stalled {
                    if stalled && leading {
                        tracing::warn!("this node did not run for a while: every broker gets a full session");
                    }
                    seen.clear();
                    fenced_since.clear();
                    leading = true;
                }
                fenced_since.retain(|id, _| image.fenced.contains(id));
                let mut silent = Vec::new();
                let mut back = Vec::new();
                for id in image.brokers.keys() {
                    if image.fenced.contains(id) {
                        let since = *fenced_since.entry(*id).or_insert(now);
                        if seen.get(id).is_some_and(|t| *t > since) {
                            back.push(*id);
                        }
                    } else if *id != self.options.node_id
                        && now.duration_since(*seen.entry(*id).or_insert(now)) > self.options.session_timeout
                    {
                        silent.push(*id);
                    }
                }
                (silent, back)
            };
            for id in silent {
                tracing::warn!(broker = id, timeout = ?self.options.session_timeout, "broker missed its session: fencing it");
                match self.write_as_leader(Command::FenceBroker { id }).await {
                    Ok(_) => {}
                    Err(super::MetadataError::Deposed) => {
                        tracing::info!(broker = id, "no longer the metadata leader: the broker is not fenced");
                    }
                    Err(e) => tracing::warn!(broker = id, error = %e, "cannot fence a broker"),
                }
            }
            for id in back {
                match self.write_as_leader(Command::UnfenceBroker { id }).await {
                    Ok(_) => tracing::info!(broker = id, "broker heartbeats again: unfenced"),
                    Err(e) => tracing::warn!(broker = id, error = %e, "cannot unfence a broker"),
                }
            }
        }
    }
}

impl Node {
    /// On the metadata leader, every `every`: where a broker's share of the partitions it is
    /// the preferred replica of but does not lead is above `percent`, those whose preferred
    /// replica is live and in sync get it back as leader (Kafka's auto.leader.rebalance).
    pub(super) async fn rebalance_leaders(
        self: Arc<Self>,
        every: Duration,
        percent: u32,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            if self.leader() != Some(self.me()) {
                continue;
            }
            let partitions = elections::imbalanced(&self.image.load(), percent);
            if partitions.is_empty() {
                continue;
            }
            match self.write_as_leader(Command::ElectLeaders { preferred: true, partitions: partitions.clone() }).await
            {
                Ok(_) => tracing::info!(partitions = partitions.len(), "leadership rebalanced to preferred replicas"),
                Err(e) => tracing::warn!(error = %e, "leader rebalance failed"),
            }
        }
    }
}

impl Node {
    /// On the metadata leader, every UNCLEAN_CHECK: each offline partition of a topic with
    /// unclean.leader.election.enable gets a live replica as leader even though it is out of the
    /// ISR (what it lacks of the acknowledged records is lost), as Kafka's controller does.
    pub(super) async fn unclean_elections(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(UNCLEAN_CHECK) => {}
                _ = stop.changed() => return,
            }
            if self.leader() != Some(self.me()) {
                continue;
            }
            let partitions = elections::unclean(&self.image.load(), self.options.unclean_election);
            if partitions.is_empty() {
                continue;
            }
            match self.write_as_leader(Command::ElectLeaders { preferred: false, partitions: partitions.clone() }).await
            {
                Ok(_) => tracing::warn!(?partitions, "unclean leader election: out-of-sync replicas lead"),
                Err(e) => tracing::warn!(error = %e, "unclean leader election failed"),
            }
        }
    }
}

/// How often the metadata leader looks for offline partitions that may be led uncleanly.
const UNCLEAN_CHECK: Duration = Duration::from_secs(1);
