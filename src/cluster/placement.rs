//! Where a topic's partitions and replicas go.

/// Largest partition count of a topic (created, or grown by CreatePartitions): the placement is
/// built in memory, so a count from the wire must not size it unchecked.
pub const PARTITIONS_MAX: i32 = 100_000;

/// Most partitions one CreateTopics or CreatePartitions request may add, as Kafka's controller
/// bounds one operation (`MAX_PARTITIONS_PER_BATCH`, `MAX_RECORDS_PER_USER_OP`): everything
/// that follows a topic (placement, group assignment, metadata) stays proportionate to what a
/// request may ask.
pub const PARTITIONS_PER_REQUEST_MAX: i64 = 10_000;

/// Replica assignment: partition i gets `rf` consecutive brokers starting at i.
pub fn assign(nodes: &[i32], partitions: i32, rf: i16) -> Vec<Vec<i32>> {
    (0..partitions as usize).map(|i| (0..rf as usize).map(|r| nodes[(i + r) % nodes.len()]).collect()).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn replicas_go_round_the_brokers() {
        assert_eq!(super::assign(&[1, 2, 3], 4, 2), vec![vec![1, 2], vec![2, 3], vec![3, 1], vec![1, 2]]);
    }
}
