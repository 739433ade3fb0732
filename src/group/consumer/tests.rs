use super::*;

pub(super) fn topics() -> TopicView {
    BTreeMap::from([("t".to_string(), (Uuid::from_u128(1), 6))])
}

pub(super) fn hb(member: &str, epoch: i32, owned: Option<Assignment>) -> Heartbeat {
    Heartbeat {
        member_id: member.into(),
        epoch,
        rebalance_timeout_ms: 30_000,
        subscribed_names: if epoch == 0 { Some(vec!["t".into()]) } else { None },
        owned,
        ..Default::default()
    }
}

pub(super) fn count(a: &Assignment) -> usize {
    a.values().map(|s| s.len()).sum()
}

pub(super) fn classic_join(
    g: &mut ConsumerGroup,
    id: &str,
    owned: &[i32],
    now: Instant,
) -> Result<(i32, String), GroupError> {
    let owned = if owned.is_empty() { vec![] } else { vec![("t".to_string(), owned.to_vec())] };
    let meta = consumer_protocol::encode_subscription(1, &["t"], &owned);
    let j = ClassicJoin {
        member_id: id.into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocols: vec![("cooperative-sticky".into(), meta)],
        ..Default::default()
    };
    g.classic_join(j, &topics(), &ConsumerGroupConfig::default(), now)
}

pub(super) fn synced(g: &mut ConsumerGroup, id: &str, now: Instant) -> Vec<i32> {
    let epoch = g.members[id].epoch;
    let (name, bytes) = g.classic_sync(id, None, epoch, (Some("consumer"), None), &topics(), now).unwrap();
    assert_eq!(name, "cooperative-sticky");
    consumer_protocol::assignment(&bytes).unwrap().into_iter().flat_map(|(_, ps)| ps).collect()
}

#[test]
fn join_gets_everything_then_a_second_member_waits_for_revocation() {
    let (cfg, t, now) = (ConsumerGroupConfig::default(), topics(), Instant::now());
    let mut g = ConsumerGroup::new("g");
    let a = g.heartbeat(hb("a", 0, None), &t, &cfg, now);
    assert_eq!((a.epoch, count(a.assignment.as_ref().unwrap())), (1, 6));
    assert_eq!(g.state_name(), "Stable");
    let b = g.heartbeat(hb("b", 0, None), &t, &cfg, now);
    assert_eq!(b.epoch, 2);
    assert_eq!(count(b.assignment.as_ref().unwrap()), 0, "b's partitions are still a's");
    assert_eq!(g.state_name(), "Reconciling");
    // a is told to keep three: it must revoke the others, at its old epoch.
    let a2 = g.heartbeat(hb("a", 1, None), &t, &cfg, now);
    assert_eq!((a2.epoch, count(a2.assignment.as_ref().unwrap())), (1, 3));
    let kept = a2.assignment.unwrap();
    // a acknowledges by reporting what it owns now; it moves to epoch 2.
    let a3 = g.heartbeat(hb("a", 1, Some(kept.clone())), &t, &cfg, now);
    assert_eq!(a3.epoch, 2);
    let b2 = g.heartbeat(hb("b", 2, None), &t, &cfg, now);
    let got = b2.assignment.unwrap();
    assert_eq!(count(&got), 3);
    assert!(is_empty(&intersect(&got, &kept)), "no partition is owned twice");
    assert_eq!(g.state_name(), "Stable");
}

#[test]
fn fencing_unknown_members_and_leaving() {
    let (cfg, t, now) = (ConsumerGroupConfig::default(), topics(), Instant::now());
    let mut g = ConsumerGroup::new("g");
    g.heartbeat(hb("a", 0, None), &t, &cfg, now);
    assert_eq!(g.heartbeat(hb("a", 7, None), &t, &cfg, now).error.unwrap().0, GroupError::FencedMemberEpoch);
    assert_eq!(g.heartbeat(hb("zz", 3, None), &t, &cfg, now).error.unwrap().0, GroupError::UnknownMemberId);
    assert_eq!(g.check_commit("a", 0), Err(GroupError::StaleMemberEpoch));
    assert_eq!(g.check_commit("a", 1), Ok(()));
    let out = g.heartbeat(hb("a", LEAVE_EPOCH, None), &t, &cfg, now);
    assert_eq!((out.error, out.epoch), (None, LEAVE_EPOCH));
    assert_eq!(g.state_name(), "Empty");
}

#[test]
fn session_timeout_fences_and_others_take_over() {
    let (cfg, t, now) = (ConsumerGroupConfig::default(), topics(), Instant::now());
    let mut g = ConsumerGroup::new("g");
    g.heartbeat(hb("a", 0, None), &t, &cfg, now);
    g.heartbeat(hb("b", 0, None), &t, &cfg, now);
    let later = now + Duration::from_secs(46);
    let b = g.heartbeat(hb("b", 2, None), &t, &cfg, now + Duration::from_secs(40));
    assert!(b.error.is_none());
    g.tick(&cfg, &t, later);
    assert!(!g.members.contains_key("a"));
    let b = g.heartbeat(hb("b", 2, None), &t, &cfg, later);
    assert_eq!(count(b.assignment.as_ref().unwrap()), 6);
}

#[test]
fn assignors_balance() {
    let t = BTreeMap::from([("x".to_string(), (Uuid::from_u128(1), 5)), ("y".to_string(), (Uuid::from_u128(2), 2))]);
    let both: Arc<BTreeSet<String>> = Arc::new(["x".to_string(), "y".to_string()].into());
    let subs = BTreeMap::from([("m1".to_string(), both.clone()), ("m2".to_string(), both)]);
    let u = assign::uniform(&subs, &t, &BTreeMap::new());
    let sizes: Vec<usize> = u.values().map(count).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 7);
    assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    let r = assign::range(&subs, &t);
    assert_eq!(r["m1"][&Uuid::from_u128(1)], BTreeSet::from([0, 1, 2]));
    assert_eq!(r["m2"][&Uuid::from_u128(1)], BTreeSet::from([3, 4]));
    // Stickiness: a previous owner keeps its partitions when still within its share.
    let prev = BTreeMap::from([("m2".to_string(), BTreeMap::from([(Uuid::from_u128(1), BTreeSet::from([0, 1, 2]))]))]);
    let u2 = assign::uniform(&subs, &t, &prev);
    assert!(u2["m2"][&Uuid::from_u128(1)].is_superset(&BTreeSet::from([0, 1, 2])));
}

#[test]
fn many_members_on_many_partitions_are_balanced_and_each_partition_given_once() {
    // 300 members, 40,000 partitions: a third subscribes to everything (as a regex matching
    // every topic does), the rest to one topic each. Each partition goes to one subscriber of
    // its topic, and the members of one subscription differ by at most one partition.
    let t: TopicView =
        (0..40u128).map(|i| (format!("t{i:02}"), (Uuid::from_u128(i + 1), 1_000))).collect::<BTreeMap<_, _>>();
    let everything: Arc<BTreeSet<String>> = Arc::new(t.keys().cloned().collect());
    let one: Vec<Arc<BTreeSet<String>>> = t.keys().map(|n| Arc::new(BTreeSet::from([n.clone()]))).collect();
    let subs: BTreeMap<String, Arc<BTreeSet<String>>> = (0..300)
        .map(|i| (format!("m{i:03}"), if i % 3 == 0 { everything.clone() } else { one[i % 40].clone() }))
        .collect();
    let check = |a: &BTreeMap<String, Assignment>, balanced: bool| {
        let mut seen = BTreeSet::new();
        for (member, parts) in a {
            for (id, ps) in parts {
                let name = t.iter().find(|(_, (tid, _))| tid == id).map(|(n, _)| n).unwrap();
                assert!(subs[member].contains(name), "{member} got {name} it does not subscribe to");
                for p in ps {
                    assert!(seen.insert((*id, *p)), "{name}-{p} given twice");
                }
            }
        }
        assert_eq!(seen.len(), 40_000, "every partition has an owner");
        if !balanced {
            return;
        }
        let loads: Vec<usize> =
            a.iter().filter(|(m, _)| Arc::ptr_eq(&subs[*m], &everything)).map(|(_, x)| count(x)).collect();
        assert!(loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1, "{loads:?}");
    };
    let first = assign::uniform(&subs, &t, &BTreeMap::new());
    check(&first, true);
    check(&assign::uniform(&subs, &t, &first), true);
    // Everyone on everything: run again with the first result as the previous assignment, and
    // nothing moves.
    let all: BTreeMap<String, Arc<BTreeSet<String>>> = subs.keys().map(|m| (m.clone(), everything.clone())).collect();
    let first = assign::uniform(&all, &t, &BTreeMap::new());
    assert!(assign::uniform(&all, &t, &first) == first, "a sticky assignor moves nothing when nothing changed");
    let ranged = assign::range(&subs, &t);
    // Range balances each topic over its subscribers, not the members' totals.
    check(&ranged, false);
}

#[test]
fn regex_subscriptions_follow_new_topics() {
    let (cfg, now) = (ConsumerGroupConfig::default(), Instant::now());
    let mut t = topics();
    let mut g = ConsumerGroup::new("g");
    let mut first = hb("a", 0, None);
    first.subscribed_names = None;
    first.subscribed_regex = Some("t.*".into());
    assert_eq!(count(g.heartbeat(first, &t, &cfg, now).assignment.as_ref().unwrap()), 6);
    t.insert("t2".into(), (Uuid::from_u128(2), 2));
    t.insert("other".into(), (Uuid::from_u128(3), 2));
    let out = g.heartbeat(hb("a", 1, None), &t, &cfg, now);
    assert_eq!((out.epoch, count(out.assignment.as_ref().unwrap())), (2, 8));
}

#[test]
fn a_regex_matching_an_internal_topic_gets_its_partitions() {
    // Kafka resolves a regex against every topic in the metadata, internal ones included.
    let (cfg, now) = (ConsumerGroupConfig::default(), Instant::now());
    let mut t = topics();
    t.insert("__consumer_offsets".into(), (Uuid::from_u128(9), 5));
    let mut g = ConsumerGroup::new("g");
    let mut first = hb("a", 0, None);
    first.subscribed_names = None;
    first.subscribed_regex = Some("__consumer_.*".into());
    let out = g.heartbeat(first, &t, &cfg, now);
    let assigned = out.assignment.as_ref().unwrap();
    assert_eq!(count(assigned), 5);
    assert_eq!(assigned[&Uuid::from_u128(9)].len(), 5);
}
