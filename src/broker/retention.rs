//! The log cleaner's schedule: retention (cleanup.policy=delete) and compaction
//! (cleanup.policy=compact) over every partition, every log.retention.check.interval.ms, off the
//! request path.

use std::sync::Arc;

use super::Broker;
use crate::log::StoreError;

impl Broker {
    /// Enforces retention.ms and retention.bytes of `delete` topics every
    /// log.retention.check.interval.ms, off the request path.
    pub(super) fn spawn_retention(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let every = std::time::Duration::from_millis(self.config.log_retention_check_interval_ms as u64);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(b) = weak.upgrade() else { return };
                let pass = tokio::task::spawn_blocking(move || b.enforce_retention()).await;
                if let Ok(Err(e)) = pass {
                    tracing::warn!(error = %e, "retention pass failed");
                }
            }
        });
    }

    /// One retention pass over every partition of every topic whose policy includes delete,
    /// and one cleaning pass over those whose policy includes compact.
    pub fn enforce_retention(&self) -> Result<(), StoreError> {
        let now = crate::now_ms();
        let mut truncated = Vec::new();
        let image = self.image();
        let settings = self.topic_settings(&image);
        for topic in image.topics.values() {
            let Some(s) = settings.of(&topic.name) else { continue };
            if s.compacted {
                for meta in &topic.partitions {
                    let p = self.partition(meta.uid)?;
                    match p.compact(now, &s.compaction) {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(topic = %topic.name, uid = meta.uid, batches = n, "compacted");
                            truncated.push((meta.uid, p.high_watermark()));
                        }
                        Err(e) => tracing::warn!(topic = %topic.name, error = %e, "compaction failed"),
                    }
                }
            }
            if !s.deleted_by_retention {
                continue;
            }
            for meta in &topic.partitions {
                let p = self.partition(meta.uid)?;
                if let Some(start) = p.retention_start(now, s.retention_ms, s.retention_bytes)? {
                    match p.delete_records(start) {
                        Ok(log_start) => {
                            tracing::info!(topic = %topic.name, uid = meta.uid, log_start, "retention advanced the log start");
                            truncated.push((meta.uid, log_start));
                        }
                        Err(e) => tracing::warn!(topic = %topic.name, error = %e, "retention could not advance"),
                    }
                }
            }
        }
        self.logs.store.reclaim(&truncated);
        Ok(())
    }
}
