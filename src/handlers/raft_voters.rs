//! AddRaftVoter and RemoveRaftVoter (KIP-853): `kafka-metadata-quorum add-controller` and
//! `remove-controller`. Any node takes them; the metadata leader changes the voters
//! (`Metadata::change_voters`). A static quorum (controller.quorum.voters) refuses them as Kafka
//! does at kraft.version 0.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::cluster::voters::{VoterChange, VoterRefusal};

pub const ADD_VERSIONS: (i16, i16) = (0, 0);
pub const REMOVE_VERSIONS: (i16, i16) = (0, 0);

pub async fn add(broker: &Broker, _ctx: &RequestContext, req: AddRaftVoterRequest) -> AddRaftVoterResponse {
    let mut r = AddRaftVoterResponse::default();
    let controller_names = &broker.config.quorum.controller_listener_names;
    let endpoint = req
        .listeners
        .iter()
        .find(|l| controller_names.is_empty() || controller_names.iter().any(|n| n.as_str() == l.name.as_str()));
    // Kafka's order: the cluster id, the voter key, its endpoints, then whether voters may change.
    let result = match (other_cluster(broker, req.cluster_id.as_ref()), endpoint) {
        (Some(e), _) => Err(e),
        _ if req.voter_directory_id.is_nil() => Err(no_directory(req.voter_id)),
        (None, None) => Err(refused(
            ResponseError::InvalidRequest,
            format!("the new voter has no endpoint on a controller listener ({})", controller_names.join(",")),
        )),
        _ if !broker.metadata.voters_may_change() => Err(coded(VoterRefusal::Static)),
        (None, Some(l)) => {
            let host = l.host.as_str();
            let addr = if host.contains(':') { format!("[{host}]:{}", l.port) } else { format!("{host}:{}", l.port) };
            let change = VoterChange::Add { id: req.voter_id, directory_id: req.voter_directory_id, addr };
            broker.metadata.change_voters(change).await.map_err(coded)
        }
    };
    if let Err((code, message)) = result {
        r.error_code = code.code();
        r.error_message = Some(message);
    }
    r
}

pub async fn remove(broker: &Broker, _ctx: &RequestContext, req: RemoveRaftVoterRequest) -> RemoveRaftVoterResponse {
    let mut r = RemoveRaftVoterResponse::default();
    let result = match other_cluster(broker, req.cluster_id.as_ref()) {
        Some(e) => Err(e),
        None if req.voter_directory_id.is_nil() => Err(no_directory(req.voter_id)),
        None => {
            let change = VoterChange::Remove { id: req.voter_id, directory_id: req.voter_directory_id };
            broker.metadata.change_voters(change).await.map_err(coded)
        }
    };
    if let Err((code, message)) = result {
        r.error_code = code.code();
        r.error_message = Some(message);
    }
    r
}

type Refused = (ResponseError, StrBytes);

fn refused(code: ResponseError, message: String) -> Refused {
    (code, str_bytes(message))
}

/// INCONSISTENT_CLUSTER_ID when the request names another cluster (null names none, as the
/// admin client sends it; Kafka checks this first).
fn other_cluster(broker: &Broker, cluster_id: Option<&StrBytes>) -> Option<Refused> {
    let ours = broker.image().cluster_id.clone();
    let theirs = cluster_id.map(|c| c.as_str())?;
    (theirs != ours).then(|| {
        refused(ResponseError::InconsistentClusterId, format!("this is cluster {ours}, the request names {theirs}"))
    })
}

/// A voter key without its directory id (Kafka's zero Uuid is none).
fn no_directory(id: i32) -> Refused {
    refused(ResponseError::InvalidRequest, format!("the request names voter {id} without its directory id"))
}

/// Kafka's code for each refusal.
fn coded(e: VoterRefusal) -> Refused {
    let code = match &e {
        VoterRefusal::Static => ResponseError::UnsupportedVersion,
        VoterRefusal::Duplicate(_) => ResponseError::DuplicateVoter,
        VoterRefusal::NotFound(_) => ResponseError::VoterNotFound,
        VoterRefusal::Invalid(_) => ResponseError::InvalidRequest,
        VoterRefusal::NotObserver(_) | VoterRefusal::Failed(_) => ResponseError::RequestTimedOut,
        VoterRefusal::NotLeader(_) => ResponseError::NotLeaderOrFollower,
    };
    refused(code, e.to_string())
}
