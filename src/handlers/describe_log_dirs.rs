//! DescribeLogDirs (`kafka-log-dirs --describe`): the one data directory and the size of each
//! partition's stored batches.

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (1, 4);

pub fn handle(broker: &Broker, _ctx: &RequestContext, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    let image = broker.image();
    let wanted: Vec<(String, Vec<i32>)> = match &req.topics {
        None => image.topics.values().map(|t| (t.name.clone(), (0..t.partitions.len() as i32).collect())).collect(),
        Some(ts) => ts.iter().map(|t| (t.topic.0.to_string(), t.partitions.clone())).collect(),
    };
    let mut dir = DescribeLogDirsResult::default();
    let path = broker.config.data_dir();
    dir.log_dir = str_bytes(std::fs::canonicalize(path).unwrap_or(path.clone()).display().to_string());
    (dir.total_bytes, dir.usable_bytes) = disk_space(path).unwrap_or((-1, -1));
    for (name, parts) in wanted {
        let Some(topic) = image.topics.get(&name) else { continue };
        let mut t = DescribeLogDirsTopic::default();
        t.name = TopicName(str_bytes(name.clone()));
        for index in parts {
            // Only the replicas stored here (in a cluster, other brokers hold the rest).
            let Some(meta) = topic.partition(index).filter(|m| m.replicas.contains(&broker.config.node_id)) else {
                continue;
            };
            let Ok(part) = broker.partition(meta.uid) else { continue };
            let mut p = DescribeLogDirsPartition::default();
            p.partition_index = index;
            p.partition_size = part.size_bytes().unwrap_or(0) as i64;
            t.partitions.push(p);
        }
        if !t.partitions.is_empty() {
            dir.topics.push(t);
        }
    }
    let mut r = DescribeLogDirsResponse::default();
    r.results = vec![dir];
    r
}

/// (total, usable) bytes of the file system holding `path`, as Kafka reports them.
fn disk_space(path: &std::path::Path) -> Option<(i64, i64)> {
    let total = fs4::total_space(path).ok()?;
    let usable = fs4::available_space(path).ok()?;
    Some((i64::try_from(total).ok()?, i64::try_from(usable).ok()?))
}
