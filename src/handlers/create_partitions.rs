//! CreatePartitions (`kafka-topics --alter --partitions N`): partitions are only ever added.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::cluster::placement::{self, PARTITIONS_PER_REQUEST_MAX};

pub const VERSIONS: (i16, i16) = (0, 3);

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut r = CreatePartitionsResponse::default();
    let image = broker.image();
    let added: i64 = req
        .topics
        .iter()
        .filter_map(|t| {
            image.topics.get(t.name.0.as_str()).map(|topic| i64::from(t.count) - topic.partitions.len() as i64)
        })
        .filter(|n| *n > 0)
        .sum();
    drop(image);
    if added > PARTITIONS_PER_REQUEST_MAX {
        // As Kafka's controller, whose one operation may not write that many records: the whole
        // request is refused.
        for t in req.topics {
            let mut out = CreatePartitionsTopicResult::default();
            out.name = t.name;
            out.error_code = ResponseError::PolicyViolation.code();
            out.error_message = Some(str_bytes("Unable to perform excessively large batch operation."));
            r.results.push(out);
        }
        return r;
    }
    for t in req.topics {
        let mut out = CreatePartitionsTopicResult::default();
        out.name = t.name.clone();
        if let Err((e, msg)) = add(broker, &t, req.validate_only).await {
            out.error_code = e.code();
            out.error_message = Some(str_bytes(msg));
        }
        r.results.push(out);
    }
    r
}

async fn add(
    broker: &Broker,
    t: &kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    let name = t.name.0.as_str();
    let image = broker.image();
    let topic = image
        .topics
        .get(name)
        .ok_or((ResponseError::UnknownTopicOrPartition, format!("The topic '{name}' does not exist.")))?;
    let current = topic.partitions.len() as i32;
    if t.count < current {
        return Err((
            ResponseError::InvalidPartitions,
            format!("The topic {name} currently has {current} partition(s); {} would not be an increase.", t.count),
        ));
    }
    if t.count > crate::cluster::placement::PARTITIONS_MAX {
        return Err((
            ResponseError::InvalidPartitions,
            format!(
                "Number of partitions must be between 1 and {}: {}",
                crate::cluster::placement::PARTITIONS_MAX,
                t.count
            ),
        ));
    }
    if t.count == current {
        return Err((ResponseError::InvalidPartitions, format!("Topic already has {current} partition(s).")));
    }
    let nodes: Vec<i32> = image.brokers.keys().copied().collect();
    let rf = topic.partitions.first().map(|p| p.replicas.len()).unwrap_or(1) as i16;
    let added = (t.count - current) as usize;
    // Null or empty: the broker places the new partitions.
    let assignment: Vec<Vec<i32>> = match t.assignments.as_ref().filter(|a| !a.is_empty()) {
        Some(a) => {
            if a.len() != added {
                return Err((
                    ResponseError::InvalidReplicaAssignment,
                    format!("Increasing the number of partitions by {added} but {} assignments provided.", a.len()),
                ));
            }
            let lists: Vec<Vec<i32>> = a.iter().map(|x| x.broker_ids.iter().map(|b| b.0).collect()).collect();
            if lists.iter().any(|l| l.is_empty() || l.iter().any(|b| !nodes.contains(b))) {
                return Err((ResponseError::InvalidReplicaAssignment, "Assignment names unknown brokers.".into()));
            }
            lists
        }
        None => {
            let live = image.live_brokers();
            let (brokers, added) = (placement::racked(&live), t.count - current);
            placement::placed(&brokers, current, added, rf, placement::random_start(brokers.len()))
        }
    };
    if validate_only {
        return Ok(());
    }
    match broker.add_partitions(name, assignment).await {
        Ok(true) => {
            tracing::info!(topic = name, partitions = t.count, "added partitions");
            Ok(())
        }
        Ok(false) => Err((ResponseError::UnknownTopicOrPartition, format!("The topic '{name}' does not exist."))),
        Err(e) => Err((ResponseError::UnknownServerError, e.to_string())),
    }
}
