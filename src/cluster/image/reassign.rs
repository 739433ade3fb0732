//! Reassignments as Kafka's controller runs them (AlterPartitionReassignments): the replicas
//! while one is in progress, when it completes, and what a cancellation leaves.

use std::collections::BTreeSet;

use super::{PartitionMeta, Reassigned};
use crate::cluster::replication;

/// Starts (or replaces) a reassignment of `p` to `target`, as Kafka's controller does: the
/// replicas become the target followed by the current ones it leaves out, and the reassignment
/// completes at once if the whole target is already in sync.
pub(super) fn start(p: &mut PartitionMeta, target: &[i32], registered: &BTreeSet<i32>, live: &[i32]) -> Reassigned {
    if target.is_empty() {
        return Reassigned::Invalid("The manual partition assignment includes an empty replica list.".into());
    }
    let distinct: BTreeSet<i32> = target.iter().copied().collect();
    if distinct.len() != target.len() {
        return Reassigned::Invalid(format!("The manual partition assignment {target:?} contains duplicate replicas."));
    }
    if let Some(b) = target.iter().find(|b| !registered.contains(b)) {
        return Reassigned::Invalid(format!(
            "The manual partition assignment includes broker {b}, but no such broker is registered."
        ));
    }
    let moves = replication::reassignment(&p.replicas, target);
    p.replicas = moves.replicas;
    p.adding = moves.adding;
    p.removing = moves.removing;
    complete(p, live);
    Reassigned::Done
}

/// Completes `p`'s reassignment once its whole target is in the ISR: the removed replicas leave
/// the replicas and the ISR, and a leader that is being removed hands over to the first live
/// in-sync replica of the target (a new leader epoch).
pub(super) fn complete(p: &mut PartitionMeta, live: &[i32]) {
    if !p.reassigning() {
        return;
    }
    let Some((replicas, isr)) = replication::completed_reassignment(&p.replicas, &p.isr, &p.removing) else {
        return;
    };
    settle(p, replicas, isr, live);
}

/// Ends `p`'s reassignment (completed or cancelled) on `replicas` and `isr`: a leader left out
/// hands over to the first live in-sync replica, in a new leader epoch.
fn settle(p: &mut PartitionMeta, replicas: Vec<i32>, isr: Vec<i32>, live: &[i32]) {
    if !replicas.contains(&p.leader) {
        let elected = replication::elect(replication::Election::Offline { unclean: false }, &replicas, &isr, live);
        p.leader = elected.unwrap_or(-1);
        p.leader_epoch += 1;
    }
    p.replicas = replicas;
    p.isr = isr;
    p.adding.clear();
    p.removing.clear();
}

/// Cancels `p`'s reassignment: the replicas it was adding leave (a leader among them hands back
/// to the first live in-sync original replica). Refused when no original replica is in sync, as
/// that would take an unclean election.
pub(super) fn cancel(p: &mut PartitionMeta, live: &[i32]) -> Reassigned {
    if !p.reassigning() {
        return Reassigned::NoneInProgress;
    }
    let replicas: Vec<i32> = p.replicas.iter().filter(|r| !p.adding.contains(r)).copied().collect();
    let isr: Vec<i32> = p.isr.iter().filter(|r| !p.adding.contains(r)).copied().collect();
    if isr.is_empty() {
        return Reassigned::Invalid(
            "Unable to revert the partition assignment because it would require an unclean leader election.".into(),
        );
    }
    settle(p, replicas, isr, live);
    Reassigned::Done
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use uuid::Uuid;

    use crate::cluster::image::{BrokerInfo, Command, CommandResult, Image, Reassigned};

    fn broker(port: u16) -> BrokerInfo {
        BrokerInfo { host: "127.0.0.1".into(), port, rack: None }
    }

    #[test]
    fn a_reassignment_completes_when_its_target_is_in_sync_and_can_be_cancelled() {
        let mut img = Image::default();
        for id in 1..=4 {
            img.apply(&Command::RegisterBroker { id, info: broker(9000 + id as u16) });
        }
        img.apply(&Command::CreateTopic {
            name: "t".into(),
            id: Uuid::from_u128(7),
            assignment: vec![vec![1, 2], vec![1, 2]],
            configs: BTreeMap::new(),
        });
        let reassign =
            |index, target: Option<Vec<i32>>| Command::Reassign { partitions: vec![("t".into(), index, target)] };
        let outcome = |r| match r {
            CommandResult::Reassignments { outcomes } => outcomes.into_iter().next().expect("one"),
            other => panic!("{other:?}"),
        };
        // Partition 0 moves from [1, 2] to [3, 2]: 3 is added, 1 (the leader) stays until 3 is in sync.
        assert_eq!(outcome(img.apply(&reassign(0, Some(vec![3, 2])))), Reassigned::Done);
        let p = img.topics["t"].partitions[0].clone();
        assert_eq!((p.replicas, p.adding, p.removing, p.leader), (vec![3, 2, 1], vec![3], vec![1], 1));
        img.apply(&Command::AlterIsr {
            topic: "t".into(),
            partition: 0,
            leader: 1,
            leader_epoch: 0,
            isr: vec![1, 2, 3],
        });
        let p = img.topics["t"].partitions[0].clone();
        assert_eq!((p.replicas, p.isr), (vec![3, 2], vec![3, 2]), "complete: 1 left");
        assert!(p.adding.is_empty() && p.removing.is_empty());
        assert_eq!(
            (p.leader, p.leader_epoch),
            (3, 1),
            "the removed leader handed over to the first in-sync target replica"
        );
        // Partition 1 moves to [4, 1]; cancelled before 4 is in sync, it is back on [1, 2].
        assert_eq!(outcome(img.apply(&reassign(1, Some(vec![4, 1])))), Reassigned::Done);
        assert_eq!(img.topics["t"].partitions[1].replicas, vec![4, 1, 2]);
        assert_eq!(outcome(img.apply(&reassign(1, None))), Reassigned::Done);
        let p = img.topics["t"].partitions[1].clone();
        assert_eq!((p.replicas, p.isr, p.leader, p.leader_epoch), (vec![1, 2], vec![1, 2], 1, 0));
        assert_eq!(outcome(img.apply(&reassign(1, None))), Reassigned::NoneInProgress);
        // Targets Kafka refuses.
        assert!(matches!(outcome(img.apply(&reassign(1, Some(vec![])))), Reassigned::Invalid(_)));
        assert!(matches!(outcome(img.apply(&reassign(1, Some(vec![1, 1])))), Reassigned::Invalid(_)));
        assert!(matches!(outcome(img.apply(&reassign(1, Some(vec![1, 9])))), Reassigned::Invalid(_)));
        assert_eq!(outcome(img.apply(&reassign(5, Some(vec![1])))), Reassigned::NoSuchPartition);
        // Dropping a replica that is in sync completes at once.
        assert_eq!(outcome(img.apply(&reassign(1, Some(vec![2])))), Reassigned::Done);
        let p = img.topics["t"].partitions[1].clone();
        assert_eq!((p.replicas, p.isr, p.leader, p.leader_epoch), (vec![2], vec![2], 2, 1));
    }
}
