//! Kafka's partition replication rules as pure functions of a partition's state: when the high
//! watermark may advance, who leaves and who joins the ISR, which replica leads after an
//! election, and where a follower's log diverges from its leader's. The replication driver of
//! a cluster (issue 14) applies them; nothing here does I/O.

use crate::log::epochs::{LeaderEpochs, UNDEFINED_EPOCH, UNDEFINED_OFFSET};

/// What the leader knows of one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follower {
    pub id: i32,
    /// The follower's log end offset, from its last Fetch.
    pub log_end: i64,
    /// The last time its log end reached the leader's (Kafka's lastCaughtUpTimeMs).
    pub caught_up_ms: i64,
    /// In the ISR, or being added to it (Kafka's maximal ISR).
    pub in_isr: bool,
}

/// The high watermark after the followers' latest fetches: the least log end among the leader
/// and the followers in the ISR (and those caught up enough to join it), never moving back, and
/// frozen while the ISR is smaller than min.insync.replicas (KAFKA-15583).
pub fn high_watermark(
    current: i64,
    leader_end: i64,
    followers: &[Follower],
    min_isr: usize,
    now_ms: i64,
    lag_max_ms: i64,
) -> i64 {
    let isr_size = 1 + followers.iter().filter(|f| f.in_isr).count();
    if isr_size < min_isr {
        return current;
    }
    let candidate = followers
        .iter()
        .filter(|f| f.in_isr || caught_up(f, now_ms, lag_max_ms))
        .map(|f| f.log_end)
        .fold(leader_end, i64::min);
    current.max(candidate)
}

fn caught_up(f: &Follower, now_ms: i64, lag_max_ms: i64) -> bool {
    now_ms.saturating_sub(f.caught_up_ms) <= lag_max_ms
}

/// The ISR members that have not caught up with the leader within replica.lag.time.max.ms and
/// leave the ISR (the leader never does).
pub fn out_of_sync(followers: &[Follower], now_ms: i64, lag_max_ms: i64) -> Vec<i32> {
    followers.iter().filter(|f| f.in_isr && !caught_up(f, now_ms, lag_max_ms)).map(|f| f.id).collect()
}

/// A follower outside the ISR joins it once its log reaches the high watermark and the start
/// of the leader's current epoch (so it holds everything the leader wrote as leader).
pub fn may_join_isr(follower_end: i64, high_watermark: i64, leader_epoch_start: i64) -> bool {
    follower_end >= high_watermark && follower_end >= leader_epoch_start
}

/// Why a leader is being chosen, each with Kafka's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// The leader is gone: the first live ISR member in assignment order; with
    /// unclean.leader.election.enable, else the first live replica (data may be lost).
    Offline { unclean: bool },
    /// `kafka-leader-election --election-type preferred`, auto.leader.rebalance: the first
    /// replica, if it is live and in the ISR.
    Preferred,
    /// Controlled shutdown of `shutting_down`: the first live ISR member other than it.
    ControlledShutdown { shutting_down: i32 },
}

/// The new leader of a partition with `replicas` in assignment order, or None if none may lead.
pub fn elect(election: Election, replicas: &[i32], isr: &[i32], live: &[i32]) -> Option<i32> {
    let eligible = |id: &&i32| live.contains(id) && isr.contains(id);
    match election {
        Election::Offline { unclean } => replicas
            .iter()
            .find(eligible)
            .or_else(|| if unclean { replicas.iter().find(|id| live.contains(id)) } else { None })
            .copied(),
        Election::Preferred => replicas.first().filter(eligible).copied(),
        Election::ControlledShutdown { shutting_down } => {
            replicas.iter().filter(|id| **id != shutting_down).find(eligible).copied()
        }
    }
}

/// The leader's answer to a follower's Fetch at `fetch_offset` whose last fetched batch had
/// `last_fetched_epoch`: the epoch and end offset where their logs part (Fetch v12's
/// DivergingEpoch), or None when the follower's log is a prefix of the leader's.
pub fn diverging_epoch(
    leader: &LeaderEpochs,
    leader_end: i64,
    last_fetched_epoch: i32,
    fetch_offset: i64,
) -> Option<(i32, i64)> {
    if last_fetched_epoch < 0 {
        return None;
    }
    let (epoch, end) = leader.end_offset_for(last_fetched_epoch, leader_end);
    (epoch < last_fetched_epoch || end < fetch_offset).then_some((epoch, end))
}

/// Where a follower truncates after its leader answered DivergingEpoch `(epoch, end)`, and
/// whether that settles it (false: fetch again from there, with the follower's own earlier
/// epoch, as Kafka's fetcher does). A follower never keeps a record its leader does not have.
pub fn truncation(
    follower: &LeaderEpochs,
    follower_end: i64,
    high_watermark: i64,
    diverging: (i32, i64),
) -> (i64, bool) {
    let (epoch, end) = diverging;
    if end == UNDEFINED_OFFSET {
        return (high_watermark, true);
    }
    if epoch == UNDEFINED_EPOCH {
        return (end.min(follower_end), true);
    }
    match follower.end_offset_for(epoch, follower_end) {
        (UNDEFINED_EPOCH, _) => (end.min(follower_end), true),
        (own_epoch, own_end) if own_epoch == epoch => (end.min(own_end), true),
        (_, own_end) => (own_end.min(follower_end), false),
    }
}

/// What a follower does when its leader answers OFFSET_OUT_OF_RANGE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfRange {
    /// Its whole log is below the leader's log start: it starts empty there.
    StartAt(i64),
    /// Its log reaches past the leader's log end (a tail the leader never had): it keeps only
    /// what the leader's high watermark covers, which every in-sync replica has, and fetches on.
    TruncateTo(i64),
    /// Nothing to repair here (wait for the metadata to move).
    Wait,
}

/// A follower whose log ends at `own_end` was answered OFFSET_OUT_OF_RANGE by a leader whose
/// log starts at `leader_start` with high watermark `leader_hw` (Kafka's handleOutOfRangeError).
pub fn out_of_range(own_end: i64, leader_start: i64, leader_hw: i64) -> OutOfRange {
    if leader_start > own_end {
        OutOfRange::StartAt(leader_start)
    } else if leader_hw >= 0 && own_end > leader_hw {
        OutOfRange::TruncateTo(leader_hw.max(leader_start))
    } else {
        OutOfRange::Wait
    }
}

/// A reassignment's replica lists (Kafka's PartitionReassignmentReplicas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moves {
    /// The target, then the current replicas it leaves out.
    pub replicas: Vec<i32>,
    /// Target replicas not among the current ones.
    pub adding: Vec<i32>,
    /// Current replicas not in the target.
    pub removing: Vec<i32>,
}

/// The replica lists while `current` is reassigned to `target`.
pub fn reassignment(current: &[i32], target: &[i32]) -> Moves {
    let removing: Vec<i32> = current.iter().filter(|r| !target.contains(r)).copied().collect();
    let adding = target.iter().filter(|r| !current.contains(r)).copied().collect();
    let replicas = target.iter().chain(&removing).copied().collect();
    Moves { replicas, adding, removing }
}

/// The replicas and ISR once a reassignment completes, or None while part of its target (the
/// replicas not being removed) is out of the ISR.
pub fn completed_reassignment(replicas: &[i32], isr: &[i32], removing: &[i32]) -> Option<(Vec<i32>, Vec<i32>)> {
    let target: Vec<i32> = replicas.iter().filter(|r| !removing.contains(r)).copied().collect();
    if !target.iter().all(|r| isr.contains(r)) {
        return None;
    }
    let isr = isr.iter().filter(|r| !removing.contains(r)).copied().collect();
    Some((target, isr))
}

/// Whether a `leader.replication.throttled.replicas` / `follower.replication.throttled.replicas`
/// value (`*`, or `partition:broker` pairs separated by commas) names `partition` on `broker`.
pub fn throttled_replica(listed: &str, partition: i32, broker: i32) -> bool {
    listed.trim() == "*"
        || listed
            .split(',')
            .filter_map(|e| e.trim().split_once(':'))
            .any(|(p, b)| p.trim().parse::<i32>() == Ok(partition) && b.trim().parse::<i32>() == Ok(broker))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: i32, log_end: i64, caught_up_ms: i64, in_isr: bool) -> Follower {
        Follower { id, log_end, caught_up_ms, in_isr }
    }

    #[test]
    fn the_high_watermark_is_the_least_isr_end_and_freezes_under_min_isr() {
        let lag = 30_000;
        let both = [f(2, 90, 1_000, true), f(3, 70, 1_000, true)];
        assert_eq!(high_watermark(50, 100, &both, 2, 1_000, lag), 70, "the slowest ISR member");
        assert_eq!(high_watermark(80, 100, &both, 2, 1_000, lag), 80, "never back");
        let one_out = [f(2, 90, 1_000, true), f(3, 10, 0, false)];
        assert_eq!(high_watermark(50, 100, &one_out, 2, 100_000, lag), 90, "a lagging non-member is not waited for");
        let catching_up = [f(2, 90, 1_000, true), f(3, 60, 1_000, false)];
        assert_eq!(high_watermark(50, 100, &catching_up, 2, 1_000, lag), 60, "one about to join is waited for");
        let alone = [f(2, 90, 0, false), f(3, 90, 0, false)];
        assert_eq!(high_watermark(50, 100, &alone, 2, 100_000, lag), 50, "ISR 1 < min.insync.replicas 2: frozen");
        assert_eq!(high_watermark(50, 100, &alone, 1, 100_000, lag), 100, "min.insync.replicas 1: the leader alone");
    }

    #[test]
    fn lagging_members_leave_the_isr_and_caught_up_followers_join() {
        let followers = [f(2, 100, 95_000, true), f(3, 40, 60_000, true), f(4, 40, 0, false)];
        assert_eq!(out_of_sync(&followers, 100_000, 30_000), vec![3]);
        assert!(may_join_isr(100, 100, 80));
        assert!(!may_join_isr(99, 100, 80), "below the high watermark");
        assert!(!may_join_isr(100, 90, 120), "below the start of the leader's epoch");
    }

    #[test]
    fn elections_follow_kafka() {
        let (replicas, isr) = ([1, 2, 3], [2, 3]);
        assert_eq!(elect(Election::Offline { unclean: false }, &replicas, &isr, &[1, 2, 3]), Some(2));
        assert_eq!(elect(Election::Offline { unclean: false }, &replicas, &isr, &[1]), None, "no live ISR member");
        assert_eq!(elect(Election::Offline { unclean: true }, &replicas, &isr, &[1]), Some(1), "unclean: any live");
        assert_eq!(elect(Election::Preferred, &replicas, &[1, 2, 3], &[1, 2, 3]), Some(1));
        assert_eq!(elect(Election::Preferred, &replicas, &isr, &[1, 2, 3]), None, "preferred but out of the ISR");
        let shutdown = Election::ControlledShutdown { shutting_down: 2 };
        assert_eq!(elect(shutdown, &replicas, &isr, &[1, 2, 3]), Some(3));
    }

    fn epochs(pairs: &[(i32, i64)]) -> LeaderEpochs {
        pairs.iter().copied().collect()
    }

    #[test]
    fn a_follower_truncates_to_where_its_log_parts_from_the_leaders() {
        // The leader wrote epoch 1 to offset 10, then epoch 3 from 10 to 20. The follower also
        // had epoch 1 but wrote epoch 2 (as a leader that lost its leadership) from 8 to 15.
        let leader = epochs(&[(1, 0), (3, 10)]);
        let follower = epochs(&[(1, 0), (2, 8)]);
        assert_eq!(diverging_epoch(&leader, 20, 3, 15), None, "a prefix of the leader's log");
        let d = diverging_epoch(&leader, 20, 2, 15).expect("epoch 2 is not the leader's");
        assert_eq!(d, (1, 10));
        assert_eq!(truncation(&follower, 15, 5, d), (8, true), "epoch 1 ends at 8 on the follower");
        // A follower whose epoch the leader has with an earlier end.
        let follower = epochs(&[(1, 0), (3, 10)]);
        let d = diverging_epoch(&leader, 12, 3, 15).expect("the follower is past the leader's end");
        assert_eq!(d, (3, 12));
        assert_eq!(truncation(&follower, 15, 5, d), (12, true));
        // The leader's epoch is unknown to the follower: truncate to the leader's end, fetch on.
        let follower = epochs(&[(0, 0), (2, 4)]);
        assert_eq!(truncation(&follower, 9, 3, (1, 6)), (4, false), "its own epoch 0 ends at 4");
        assert_eq!(
            truncation(&follower, 9, 3, (UNDEFINED_EPOCH, UNDEFINED_OFFSET)),
            (3, true),
            "to the high watermark"
        );
    }

    #[test]
    fn a_reassignment_adds_first_and_removes_once_the_target_is_in_sync() {
        let m = reassignment(&[1, 2, 3], &[4, 2, 3]);
        assert_eq!(m, Moves { replicas: vec![4, 2, 3, 1], adding: vec![4], removing: vec![1] });
        assert_eq!(completed_reassignment(&m.replicas, &[1, 2, 3], &m.removing), None, "4 not in sync yet");
        assert_eq!(
            completed_reassignment(&m.replicas, &[2, 3, 1, 4], &m.removing),
            Some((vec![4, 2, 3], vec![2, 3, 4])),
            "the whole target is in sync: 1 leaves"
        );
        let shrink = reassignment(&[1, 2, 3], &[2, 3]);
        assert_eq!(shrink, Moves { replicas: vec![2, 3, 1], adding: vec![], removing: vec![1] });
        assert_eq!(completed_reassignment(&shrink.replicas, &[1, 3], &shrink.removing), None, "2 is out of the ISR");
        let reorder = reassignment(&[1, 2, 3], &[3, 1, 2]);
        assert!(reorder.adding.is_empty() && reorder.removing.is_empty());
        assert_eq!(reorder.replicas, vec![3, 1, 2]);
    }

    #[test]
    fn throttled_replicas_are_partition_broker_pairs_or_all() {
        assert!(throttled_replica("*", 3, 1));
        assert!(throttled_replica("0:1, 0:2,1:3", 0, 2));
        assert!(!throttled_replica("0:1,0:2", 1, 2), "another partition");
        assert!(!throttled_replica("0:1,0:2", 0, 3), "another broker");
        assert!(!throttled_replica("", 0, 1));
    }

    #[test]
    fn a_follower_out_of_its_leaders_range_starts_over_or_drops_its_tail() {
        assert_eq!(out_of_range(40, 100, 150), OutOfRange::StartAt(100), "behind the log start");
        assert_eq!(out_of_range(160, 0, 150), OutOfRange::TruncateTo(150), "past the leader's end");
        assert_eq!(out_of_range(120, 0, 150), OutOfRange::Wait, "within the leader's log");
        assert_eq!(out_of_range(120, 0, -1), OutOfRange::Wait, "no high watermark given");
    }
}
