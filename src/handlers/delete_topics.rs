//! DeleteTopics: by name (all versions) or by topic id (v6+).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::{RequestContext, is_internal, str_bytes};
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (1, 6);

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let targets: Vec<(Option<TopicName>, Uuid)> = if ctx.version >= 6 {
        req.topics.iter().map(|t| (t.name.clone(), t.topic_id)).collect()
    } else {
        req.topic_names.iter().map(|n| (Some(n.clone()), Uuid::nil())).collect()
    };
    let mut r = DeleteTopicsResponse::default();
    for (name, id) in targets {
        let mut res = DeletableTopicResult::default();
        res.topic_id = id;
        let image = broker.image();
        let topic = match &name {
            Some(n) => image.topics.get(n.0.as_str()),
            None => image.topic_by_id(&id),
        };
        match topic {
            None => {
                res.name = name;
                let e = if res.name.is_none() {
                    ResponseError::UnknownTopicId
                } else {
                    ResponseError::UnknownTopicOrPartition
                };
                res.error_code = e.code();
                res.error_message = Some(str_bytes(e.to_string()));
            }
            Some(t) => {
                res.name = Some(TopicName(str_bytes(t.name.clone())));
                res.topic_id = t.id;
                if is_internal(&t.name) {
                    res.error_code = ResponseError::TopicDeletionDisabled.code();
                } else {
                    match broker.delete_topic(&t.name).await {
                        Ok(true) => tracing::info!(topic = %t.name, "deleted topic"),
                        Ok(false) => res.error_code = ResponseError::UnknownTopicOrPartition.code(),
                        Err(e) => {
                            res.error_code = ResponseError::UnknownServerError.code();
                            res.error_message = Some(str_bytes(e.to_string()));
                        }
                    }
                }
            }
        }
        r.responses.push(res);
    }
    r
}
