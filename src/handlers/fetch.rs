//! Fetch: reads whole batches up to the high watermark within the request's byte limits, and
//! long-polls (max_wait_ms, min_bytes) on the partitions' high-watermark watches.
//!
//! Fetch sessions (KIP-227) are answered sessionless (session id 0), which Kafka clients treat as
//! "full fetch every time"; incremental sessions are a later optimisation.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::protocol::errors;

pub const VERSIONS: (i16, i16) = (4, 18);

/// Longest a fetch may wait, whatever the client asks.
const WAIT_MS_MAX: i32 = 60_000;

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: FetchRequest) -> FetchResponse {
    let wait_ms = req.max_wait_ms.clamp(0, WAIT_MS_MAX) as u64;
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    loop {
        let mut watches = Vec::new();
        let (response, bytes, errors) = read_all(broker, ctx, &req, &mut watches);
        let satisfied = bytes >= req.min_bytes.max(0) as usize || errors || watches.is_empty();
        if satisfied || Instant::now() >= deadline {
            return response;
        }
        let changed = futures::future::select_all(watches.iter_mut().map(|w| Box::pin(w.changed())));
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            // Deadline passed with nothing new: answer with what is there (possibly nothing).
            let (response, _, _) = read_all(broker, ctx, &req, &mut Vec::new());
            return response;
        }
    }
}

/// One pass over the requested partitions. Returns the response, the record bytes in it and
/// whether any partition had an error; fills `watches` with the partitions' change receivers.
fn read_all(broker: &Broker, ctx: &RequestContext, req: &FetchRequest, watches: &mut Vec<watch::Receiver<i64>>) -> (FetchResponse, usize, bool) {
    let image = broker.image();
    let mut r = FetchResponse::default();
    r.session_id = 0;
    let mut total = 0usize;
    let mut any_error = false;
    let response_bytes_max = if req.max_bytes > 0 { req.max_bytes as usize } else { usize::MAX };
    for t in &req.topics {
        let topic = if ctx.version >= 13 { image.topic_by_id(&t.topic_id) } else { image.topics.get(t.topic.0.as_str()) };
        let mut out = FetchableTopicResponse::default();
        out.topic = match topic {
            Some(tp) => TopicName(str_bytes(tp.name.clone())),
            None => t.topic.clone(),
        };
        out.topic_id = t.topic_id;
        for p in &t.partitions {
            let mut pd = PartitionData::default();
            pd.partition_index = p.partition;
            pd.high_watermark = -1;
            pd.last_stable_offset = -1;
            pd.log_start_offset = -1;
            let meta = topic.and_then(|tp| usize::try_from(p.partition).ok().and_then(|i| tp.partitions.get(i)));
            let part = meta.map(|m| broker.partition(m.uid));
            match part {
                None => {
                    any_error = true;
                    let e = if ctx.version >= 13 && topic.is_none() { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
                    pd.error_code = e.code();
                }
                Some(Err(e)) => {
                    any_error = true;
                    pd.error_code = errors::store_error(&e).code();
                }
                Some(Ok(part)) => {
                    watches.push(part.subscribe());
                    let room = response_bytes_max.saturating_sub(total);
                    let limit = (p.partition_max_bytes.max(0) as usize).min(room);
                    if limit == 0 && total > 0 {
                        // Response is full: report offsets, no records.
                        pd.high_watermark = part.high_watermark();
                        pd.last_stable_offset = pd.high_watermark;
                        pd.log_start_offset = part.log_start();
                        pd.records = Some(Bytes::new());
                    } else {
                        match part.read(p.fetch_offset, limit.max(1)) {
                            Ok(res) => {
                                total += res.records.len();
                                pd.high_watermark = res.high_watermark;
                                pd.last_stable_offset = res.high_watermark;
                                pd.log_start_offset = res.log_start;
                                pd.records = Some(res.records);
                            }
                            Err(e) => {
                                any_error = true;
                                pd.error_code = errors::read_error(&e).code();
                                pd.high_watermark = part.high_watermark();
                                pd.last_stable_offset = pd.high_watermark;
                                pd.log_start_offset = part.log_start();
                            }
                        }
                    }
                    if ctx.version >= 12 {
                        pd.aborted_transactions = None;
                    } else {
                        pd.aborted_transactions = Some(vec![]);
                    }
                }
            }
            out.partitions.push(pd);
        }
        r.responses.push(out);
    }
    (r, total, any_error)
}
