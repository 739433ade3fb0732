//! The image's rules as pure functions: uids, fencing, ISR changes, elections, producer ids.

use super::*;

#[test]
fn uids_are_never_reused_after_delete_and_recreate() {
    let mut img = Image::default();
    let create = |id| Command::CreateTopic {
        name: "t".into(),
        id,
        assignment: vec![vec![1], vec![1]],
        configs: BTreeMap::new(),
    };
    assert_eq!(img.apply(&create(Uuid::from_u128(1))), CommandResult::TopicCreated { uids: vec![0, 1] });
    assert_eq!(img.apply(&create(Uuid::from_u128(2))), CommandResult::TopicExists);
    assert_eq!(img.apply(&Command::DeleteTopic { name: "t".into() }), CommandResult::TopicDeleted { uids: vec![0, 1] });
    assert!(img.topic_by_id(&Uuid::from_u128(1)).is_none());
    assert_eq!(img.apply(&create(Uuid::from_u128(3))), CommandResult::TopicCreated { uids: vec![2, 3] });
    assert_eq!(img.apply(&Command::DeleteTopic { name: "x".into() }), CommandResult::NoSuchTopic);
}

fn broker(port: u16) -> BrokerInfo {
    BrokerInfo { host: "127.0.0.1".into(), port, rack: None }
}

#[test]
fn a_fenced_broker_hands_its_leaderships_to_live_isr_members_or_takes_them_offline() {
    let mut img = Image::default();
    for id in 1..=3 {
        img.apply(&Command::RegisterBroker { id, info: broker(9000 + id as u16) });
    }
    let assignment = vec![vec![1, 2, 3], vec![2, 3, 1], vec![1]];
    let create =
        Command::CreateTopic { name: "t".into(), id: Uuid::from_u128(1), assignment, configs: BTreeMap::new() };
    img.apply(&create);
    img.apply(&Command::FenceBroker { id: 1 });
    assert_eq!(img.live_brokers().keys().copied().collect::<Vec<_>>(), vec![2, 3]);
    let t = &img.topics["t"];
    assert_eq!((t.partitions[0].leader, t.partitions[0].leader_epoch), (2, 1), "first live ISR member");
    assert_eq!(t.partitions[0].isr, vec![2, 3]);
    assert_eq!((t.partitions[1].leader, t.partitions[1].leader_epoch), (2, 0), "not led by 1: unchanged");
    assert_eq!(t.partitions[1].isr, vec![2, 3]);
    assert_eq!((t.partitions[2].leader, t.partitions[2].leader_epoch), (-1, 1), "no other ISR member: offline");
    assert_eq!(t.partitions[2].isr, vec![1], "the last ISR member stays, so it may lead again");
    img.apply(&Command::FenceBroker { id: 1 });
    assert_eq!(img.topics["t"].partitions[2].leader_epoch, 1, "fencing twice changes nothing");
    img.apply(&Command::UnfenceBroker { id: 1 });
    let t = &img.topics["t"];
    assert_eq!((t.partitions[2].leader, t.partitions[2].leader_epoch), (1, 2));
    assert_eq!(t.partitions[0].leader, 2, "a live leader keeps its partition");
    assert!(img.is_live(1));
}

#[test]
fn only_the_current_leader_changes_the_isr_and_never_to_a_fenced_or_foreign_broker() {
    let mut img = Image::default();
    for id in 1..=4 {
        img.apply(&Command::RegisterBroker { id, info: broker(9000 + id as u16) });
    }
    let assignment = vec![vec![1, 2, 3]];
    img.apply(&Command::CreateTopic { name: "t".into(), id: Uuid::from_u128(7), assignment, configs: BTreeMap::new() });
    let alter = |leader, leader_epoch, isr: &[i32]| Command::AlterIsr {
        topic: "t".into(),
        partition: 0,
        leader,
        leader_epoch,
        isr: isr.to_vec(),
    };
    assert_eq!(img.apply(&alter(1, 0, &[1, 3])), CommandResult::Done);
    assert_eq!(img.topics["t"].partitions[0].isr, vec![1, 3]);
    assert_eq!(img.apply(&alter(2, 0, &[2])), CommandResult::IsrRefused, "not the leader");
    assert_eq!(img.apply(&alter(1, 5, &[1])), CommandResult::IsrRefused, "another epoch");
    assert_eq!(img.apply(&alter(1, 0, &[1, 4])), CommandResult::IsrRefused, "4 is no replica");
    assert_eq!(img.apply(&alter(1, 0, &[3])), CommandResult::IsrRefused, "without the leader");
    img.apply(&Command::FenceBroker { id: 2 });
    assert_eq!(img.apply(&alter(1, 0, &[1, 2, 3])), CommandResult::IsrRefused, "2 is fenced");
    assert_eq!(img.apply(&alter(1, 0, &[3, 1])), CommandResult::Done);
    assert_eq!(img.topics["t"].partitions[0].isr, vec![1, 3], "in assignment order");
    let elsewhere = Command::AlterIsr { topic: "u".into(), partition: 0, leader: 1, leader_epoch: 0, isr: vec![1] };
    assert_eq!(img.apply(&elsewhere), CommandResult::NoSuchTopic);
}

#[test]
fn preferred_and_unclean_elections_follow_kafka() {
    let mut img = Image::default();
    for id in 1..=3 {
        img.apply(&Command::RegisterBroker { id, info: broker(9000 + id as u16) });
    }
    let assignment = vec![vec![1, 2, 3], vec![3], vec![2, 1]];
    img.apply(&Command::CreateTopic { name: "t".into(), id: Uuid::from_u128(9), assignment, configs: BTreeMap::new() });
    img.apply(&Command::FenceBroker { id: 1 });
    img.apply(&Command::FenceBroker { id: 3 });
    let all = |preferred| Command::ElectLeaders {
        preferred,
        partitions: vec![("t".into(), 0), ("t".into(), 1), ("t".into(), 2), ("t".into(), 9)],
    };
    // 1 fenced: partition 0 is led by 2; partition 1 is offline; 2 leads partition 2.
    use Election::*;
    let outcomes = |r| match r {
        CommandResult::Elections { outcomes } => outcomes,
        other => panic!("{other:?}"),
    };
    assert_eq!(outcomes(img.apply(&all(true))), vec![NotAvailable, NotAvailable, NotNeeded, NoSuchPartition]);
    img.apply(&Command::UnfenceBroker { id: 1 });
    // 1 is back but not in partition 0's ISR yet (it left it when fenced).
    assert_eq!(outcomes(img.apply(&all(true)))[0], NotAvailable);
    img.apply(&Command::AlterIsr { topic: "t".into(), partition: 0, leader: 2, leader_epoch: 1, isr: vec![1, 2] });
    assert_eq!(outcomes(img.apply(&all(true)))[0], Elected);
    assert_eq!((img.topics["t"].partitions[0].leader, img.topics["t"].partitions[0].leader_epoch), (1, 2));
    // Unclean: only an offline partition, and only to a live replica.
    assert_eq!(outcomes(img.apply(&all(false)))[..3], [NotNeeded, NotAvailable, NotNeeded]);
    img.apply(&Command::UnfenceBroker { id: 3 });
    assert_eq!(img.topics["t"].partitions[1].leader, 3, "its last ISR member is back: it leads");
}

#[test]
fn producer_id_blocks_do_not_overlap() {
    let mut img = Image::default();
    assert_eq!(img.apply(&Command::AllocateProducerIds { count: 10 }), CommandResult::ProducerIds { first: 0 });
    assert_eq!(img.apply(&Command::AllocateProducerIds { count: 10 }), CommandResult::ProducerIds { first: 10 });
}
