//! Where a topic's partitions and replicas go.

/// Largest partition count of a topic (created, or grown by CreatePartitions): the placement is
/// built in memory, so a count from the wire must not size it unchecked.
pub const PARTITIONS_MAX: i32 = 100_000;

/// Most partitions one CreateTopics or CreatePartitions request may add, as Kafka's controller
/// bounds one operation (`MAX_PARTITIONS_PER_BATCH`, `MAX_RECORDS_PER_USER_OP`): everything
/// that follows a topic (placement, group assignment, metadata) stays proportionate to what a
/// request may ask.
pub const PARTITIONS_PER_REQUEST_MAX: i64 = 10_000;

/// The (id, broker.rack) of every registered broker, as `placed` takes them.
pub fn racked(brokers: &std::collections::BTreeMap<i32, super::BrokerInfo>) -> Vec<(i32, Option<&str>)> {
    brokers.iter().map(|(id, b)| (*id, b.rack.as_deref())).collect()
}

/// Replicas of a new topic's partitions over the registered brokers and their racks.
pub fn for_new_topic(
    brokers: &std::collections::BTreeMap<i32, super::BrokerInfo>,
    partitions: i32,
    rf: i16,
) -> Vec<Vec<i32>> {
    placed(&racked(brokers), 0, partitions, rf, random_start(brokers.len()))
}

/// Replica assignment of a new topic over brokers without racks: `placed` with every broker
/// on one rack and a start drawn at random, as Kafka draws it.
pub fn assign(nodes: &[i32], partitions: i32, rf: i16) -> Vec<Vec<i32>> {
    let racked: Vec<(i32, Option<&str>)> = nodes.iter().map(|n| (*n, None)).collect();
    placed(&racked, 0, partitions, rf, random_start(nodes.len()))
}

/// A start for `placed`: where the first partition's leader and its first follower fall.
pub fn random_start(brokers: usize) -> (usize, usize) {
    use rand::Rng;
    let mut rng = rand::rng();
    (rng.random_range(0..brokers.max(1)), rng.random_range(0..brokers.max(1)))
}

/// Replicas of the partitions `first..first + count` over `brokers` (id, rack), Kafka's
/// rack-aware round robin: brokers are ordered so that racks alternate; partition p's leader is
/// the broker at `p + start.0` in that order, so leaders spread evenly; its followers come at a
/// shift that grows every time the partitions have gone once round the brokers, skipping racks
/// that already hold a replica until every rack holds one, and brokers that already hold one.
/// `start` is (leader index, follower shift); `random_start` draws one.
pub fn placed(
    brokers: &[(i32, Option<&str>)],
    first: i32,
    count: i32,
    rf: i16,
    start: (usize, usize),
) -> Vec<Vec<i32>> {
    let order = rack_alternating(brokers);
    let n = order.len();
    if n == 0 {
        return Vec::new();
    }
    let racks: std::collections::BTreeSet<&str> = order.iter().map(|(_, r)| *r).collect();
    let rf = (rf.max(1) as usize).min(n);
    let mut out = Vec::with_capacity(count.max(0) as usize);
    for p in first.max(0) as usize..(first.max(0) + count.max(0)) as usize {
        let shift = start.1 + p / n;
        let leader = (p + start.0) % n;
        let mut replicas = vec![order[leader]];
        let mut k = 0;
        while replicas.len() < rf {
            let candidate = order[follower_index(leader, shift * racks.len(), k, n)];
            k += 1;
            let rack_free = replicas.iter().all(|(_, r)| *r != candidate.1)
                || racks.iter().all(|r| replicas.iter().any(|(_, x)| x == r));
            if rack_free && replicas.iter().all(|(id, _)| *id != candidate.0) {
                replicas.push(candidate);
            }
        }
        out.push(replicas.into_iter().map(|(id, _)| id).collect());
    }
    out
}

/// Brokers ordered so that racks alternate (rack a's first, rack b's first, ..., rack a's
/// second, ...); a broker without a rack is on a rack of its own name "".
fn rack_alternating<'a>(brokers: &[(i32, Option<&'a str>)]) -> Vec<(i32, &'a str)> {
    let mut by_rack: std::collections::BTreeMap<&str, Vec<i32>> = std::collections::BTreeMap::new();
    for (id, rack) in brokers {
        by_rack.entry(rack.unwrap_or("")).or_default().push(*id);
    }
    for ids in by_rack.values_mut() {
        ids.sort_unstable();
    }
    let deepest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    (0..deepest).flat_map(|i| by_rack.iter().filter_map(move |(rack, ids)| ids.get(i).map(|id| (*id, *rack)))).collect()
}

/// Kafka's `replicaIndex`: the k-th follower candidate of the leader at `leader`.
fn follower_index(leader: usize, shift: usize, k: usize, n: usize) -> usize {
    if n == 1 {
        return leader;
    }
    (leader + 1 + (shift + k) % (n - 1)) % n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_racks_replicas_go_round_the_brokers_and_shift_each_round() {
        let nodes = [(1, None), (2, None), (3, None)];
        assert_eq!(
            placed(&nodes, 0, 6, 2, (0, 0)),
            vec![vec![1, 2], vec![2, 3], vec![3, 1], vec![1, 3], vec![2, 1], vec![3, 2]],
            "after one round the followers shift, so pairs differ"
        );
        assert_eq!(placed(&nodes, 4, 2, 2, (0, 0)), placed(&nodes, 0, 6, 2, (0, 0))[4..].to_vec(), "added partitions");
        assert_eq!(placed(&[(7, None)], 0, 2, 3, (0, 0)), vec![vec![7], vec![7]], "rf above the brokers: each once");
        let random = assign(&[1, 2, 3], 30, 3);
        assert!(
            random.iter().all(|r| { r.len() == 3 && r.iter().collect::<std::collections::BTreeSet<_>>().len() == 3 })
        );
    }

    #[test]
    fn with_racks_each_partition_spans_racks_and_leaders_spread_evenly() {
        let nodes = [(1, Some("a")), (2, Some("a")), (3, Some("b")), (4, Some("b")), (5, Some("c")), (6, Some("c"))];
        for start in [(0, 0), (2, 1), (5, 4)] {
            let placement = placed(&nodes, 0, 60, 3, start);
            let rack = |id: i32| nodes.iter().find(|(n, _)| *n == id).unwrap().1;
            for replicas in &placement {
                let racks: std::collections::BTreeSet<_> = replicas.iter().map(|id| rack(*id)).collect();
                assert_eq!(racks.len(), 3, "{replicas:?} spans every rack");
            }
            let mut leaders = std::collections::BTreeMap::new();
            for replicas in &placement {
                *leaders.entry(replicas[0]).or_insert(0) += 1;
            }
            assert!(leaders.values().all(|n| *n == 10), "{leaders:?}: each broker leads 10 of 60");
        }
        // Two racks and rf 3: one rack holds two replicas, never the same broker twice.
        let two = [(1, Some("a")), (2, Some("a")), (3, Some("b")), (4, Some("b"))];
        for replicas in placed(&two, 0, 8, 3, (1, 1)) {
            assert_eq!(replicas.iter().collect::<std::collections::BTreeSet<_>>().len(), 3, "{replicas:?}");
        }
    }
}
