use super::*;

fn cfg() -> GroupConfig {
    GroupConfig { initial_rebalance_delay_ms: 0, ..GroupConfig::default() }
}

fn req(member: &str, protocols: &[&str]) -> JoinRequest {
    JoinRequest {
        member_id: member.into(),
        client_id: "c".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: protocols.iter().map(|p| (p.to_string(), Bytes::from_static(b"meta"))).collect(),
        require_known_member_id: true,
        ..Default::default()
    }
}

fn now_join(r: (Reply<JoinOutcome>, Persist)) -> JoinOutcome {
    match r.0 {
        Reply::Now(o) => o,
        Reply::Later(_) => panic!("expected an immediate answer"),
    }
}

fn later<T>(r: Reply<T>) -> oneshot::Receiver<T> {
    match r {
        Reply::Later(rx) => rx,
        Reply::Now(_) => panic!("expected to wait"),
    }
}

/// Joins a new dynamic member through MEMBER_ID_REQUIRED; returns its id and join receiver.
fn join_new(g: &mut Group, t: Instant) -> (String, oneshot::Receiver<JoinOutcome>) {
    let first = now_join(g.join(req("", &["range"]), &cfg(), t));
    assert_eq!(first.error, Some(GroupError::MemberIdRequired));
    let id = first.member_id.clone();
    let rx = later(g.join(req(&id, &["range"]), &cfg(), t).0);
    // A new group's first join completes from the timer (delay 0 here).
    g.tick(&cfg(), t);
    (id, rx)
}

#[test]
fn first_member_becomes_leader_and_syncs_to_stable() {
    let t = Instant::now();
    let mut g = Group::new("g");
    let (id, mut rx) = join_new(&mut g, t);
    let out = rx.try_recv().expect("join completes with every member in");
    assert_eq!((out.error, out.generation, out.leader.as_str()), (None, 1, id.as_str()));
    assert_eq!(out.protocol_name.as_deref(), Some("range"));
    assert_eq!(out.members.len(), 1, "the leader sees the members");
    assert_eq!(g.state, GroupState::CompletingRebalance);
    let (reply, persist) = g.sync(&id, None, 1, (None, None), vec![(id.clone(), Bytes::from_static(b"a"))], t);
    assert_eq!(persist, Persist::GroupMetadata);
    assert_eq!(later(reply).try_recv().unwrap().assignment, Bytes::from_static(b"a"));
    assert_eq!(g.state, GroupState::Stable);
    assert_eq!(g.heartbeat(&id, None, 1, t), Ok(()));
}

#[test]
fn a_second_member_triggers_a_rebalance_that_waits_for_both() {
    let t = Instant::now();
    let mut g = Group::new("g");
    let (a, mut rx) = join_new(&mut g, t);
    rx.try_recv().unwrap();
    later(g.sync(&a, None, 1, (None, None), vec![], t).0);
    let (b, mut rx_b) = join_new(&mut g, t);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert!(rx_b.try_recv().is_err(), "waits for the existing member to rejoin");
    assert_eq!(g.heartbeat(&a, None, 1, t), Err(GroupError::RebalanceInProgress));
    let mut rx_a = later(g.join(req(&a, &["range"]), &cfg(), t).0);
    let (oa, ob) = (rx_a.try_recv().unwrap(), rx_b.try_recv().unwrap());
    assert_eq!((oa.generation, ob.generation), (2, 2));
    assert_eq!(oa.leader, a, "the leader stays");
    assert!(ob.members.is_empty(), "followers do not see the members");
    assert_eq!(g.sync(&b, None, 1, (None, None), vec![], t).0.now_err(), Some(GroupError::IllegalGeneration));
    let mut sync_b = later(g.sync(&b, None, 2, (None, None), vec![], t).0);
    assert!(sync_b.try_recv().is_err(), "followers wait for the leader's assignments");
    let assignments = vec![(a.clone(), Bytes::from_static(b"A")), (b.clone(), Bytes::from_static(b"B"))];
    later(g.sync(&a, None, 2, (None, None), assignments, t).0);
    assert_eq!(sync_b.try_recv().unwrap().assignment, Bytes::from_static(b"B"));
}

#[test]
fn leaving_and_session_expiry_rebalance_and_empty_the_group() {
    let t = Instant::now();
    let mut g = Group::new("g");
    let (a, mut rx) = join_new(&mut g, t);
    rx.try_recv().unwrap();
    later(g.sync(&a, None, 1, (None, None), vec![], t).0);
    let (b, _rx_b) = join_new(&mut g, t);
    let _rx_a = later(g.join(req(&a, &["range"]), &cfg(), t).0);
    assert_eq!(g.state, GroupState::CompletingRebalance);
    // b never heartbeats: its session expires and the group rebalances without it.
    let later_t = t + Duration::from_secs(11);
    g.heartbeat(&a, None, 2, t + Duration::from_secs(10)).unwrap();
    g.tick(&cfg(), later_t);
    assert!(!g.members.contains_key(&b));
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(g.leave(&a, None, &cfg(), later_t), Ok(Persist::GroupMetadata));
    assert_eq!(g.state, GroupState::Empty);
    assert_eq!(g.leave(&a, None, &cfg(), later_t), Err(GroupError::UnknownMemberId));
}

#[test]
fn rebalance_timeout_drops_members_that_do_not_rejoin() {
    let t = Instant::now();
    let mut g = Group::new("g");
    let (a, mut rx) = join_new(&mut g, t);
    rx.try_recv().unwrap();
    later(g.sync(&a, None, 1, (None, None), vec![], t).0);
    let (b, mut rx_b) = join_new(&mut g, t);
    // a keeps heartbeating (REBALANCE_IN_PROGRESS) but never rejoins.
    let past = t + Duration::from_secs(31);
    assert_eq!(g.heartbeat(&a, None, 1, past), Err(GroupError::RebalanceInProgress));
    g.tick(&cfg(), past);
    let ob = rx_b.try_recv().expect("join completes at the rebalance timeout");
    assert_eq!((ob.generation, ob.leader.as_str()), (2, b.as_str()));
    assert!(!g.members.contains_key(&a));
}

#[test]
fn static_member_restart_keeps_generation_and_fences_the_old_id() {
    let t = Instant::now();
    let mut g = Group::new("g");
    let mut r = req("", &["range"]);
    r.instance_id = Some("i1".into());
    let mut rx = later(g.join(r.clone(), &cfg(), t).0);
    g.tick(&cfg(), t);
    let old = rx.try_recv().unwrap().member_id;
    later(g.sync(&old, Some("i1"), 1, (None, None), vec![(old.clone(), Bytes::from_static(b"A"))], t).0);
    let out = now_join(g.join(r, &cfg(), t));
    assert_eq!((out.error, out.generation), (None, 1), "no rebalance for a known static member");
    assert_ne!(out.member_id, old);
    assert_eq!(g.heartbeat(&old, Some("i1"), 1, t), Err(GroupError::FencedInstanceId));
    assert_eq!(g.heartbeat(&out.member_id, Some("i1"), 1, t), Ok(()));
    assert_eq!(g.members[&out.member_id].assignment, Bytes::from_static(b"A"));
    assert!(out.skip_assignment && out.members.len() == 1, "the returning leader keeps the assignment (KIP-814)");
    // New subscription bytes under the same selected protocol: still no rebalance.
    let mut changed = req("", &["range"]);
    changed.instance_id = Some("i1".into());
    changed.protocols[0].1 = Bytes::from_static(b"other-topics");
    let again = now_join(g.join(changed, &cfg(), t));
    assert_eq!((again.error, again.generation, g.state), (None, 1, GroupState::Stable));
}

#[test]
fn a_new_group_waits_while_members_keep_arriving() {
    let t = Instant::now();
    let delayed = GroupConfig { initial_rebalance_delay_ms: 1000, ..cfg() };
    let mut g = Group::new("g");
    let join = |g: &mut Group, at| {
        let first = now_join(g.join(req("", &["range"]), &delayed, at));
        later(g.join(req(&first.member_id, &["range"]), &delayed, at).0)
    };
    let mut a = join(&mut g, t);
    g.tick(&delayed, t + Duration::from_millis(500));
    let mut b = join(&mut g, t + Duration::from_millis(600));
    g.tick(&delayed, t + Duration::from_millis(1000));
    assert!(a.try_recv().is_err(), "b joined during the delay: it runs once more");
    g.tick(&delayed, t + Duration::from_millis(1900));
    assert!(a.try_recv().is_err());
    g.tick(&delayed, t + Duration::from_millis(2000));
    let (oa, ob) = (a.try_recv().unwrap(), b.try_recv().unwrap());
    assert_eq!((oa.generation, ob.generation, oa.members.len() + ob.members.len()), (1, 1, 2));

    // With no delay the first join still completes from the timer, so a member that comes
    // in before it fires shares the first generation.
    let mut g = Group::new("g0");
    let first = now_join(g.join(req("", &["range"]), &cfg(), t));
    let mut a = later(g.join(req(&first.member_id, &["range"]), &cfg(), t).0);
    assert!(a.try_recv().is_err(), "even with no delay the first join waits for the timer");
    let mut b = join(&mut g, t);
    g.tick(&cfg(), t);
    g.tick(&cfg(), t + Duration::from_millis(100));
    assert_eq!((a.try_recv().unwrap().generation, b.try_recv().unwrap().generation), (1, 1));
}

#[test]
fn bad_joins_get_kafka_errors() {
    let t = Instant::now();
    let mut g = Group::new("g");
    let mut short = req("", &["range"]);
    short.session_timeout_ms = 10;
    assert_eq!(now_join(g.join(short, &cfg(), t)).error, Some(GroupError::InvalidSessionTimeout));
    assert_eq!(now_join(g.join(req("nobody", &["range"]), &cfg(), t)).error, Some(GroupError::UnknownMemberId));
    let (_a, mut rx) = join_new(&mut g, t);
    rx.try_recv().unwrap();
    let other = now_join(g.join(req("", &["roundrobin"]), &cfg(), t));
    assert_eq!(other.error, Some(GroupError::InconsistentGroupProtocol));
}

#[test]
fn initial_delay_holds_the_first_rebalance() {
    let t = Instant::now();
    let delayed = GroupConfig { initial_rebalance_delay_ms: 3000, ..cfg() };
    let mut g = Group::new("g");
    let id = now_join(g.join(req("", &["range"]), &delayed, t)).member_id;
    let mut rx = later(g.join(req(&id, &["range"]), &delayed, t).0);
    g.tick(&delayed, t + Duration::from_millis(100));
    assert!(rx.try_recv().is_err());
    g.tick(&delayed, t + Duration::from_millis(3100));
    assert_eq!(rx.try_recv().unwrap().generation, 1);
}

impl<T: std::fmt::Debug> Reply<T> {
    fn now_err(self) -> Option<GroupError>
    where
        T: HasError,
    {
        match self {
            Reply::Now(o) => o.error(),
            Reply::Later(_) => None,
        }
    }
}

trait HasError {
    fn error(&self) -> Option<GroupError>;
}

impl HasError for SyncOutcome {
    fn error(&self) -> Option<GroupError> {
        self.error
    }
}

#[test]
fn a_stable_group_is_restored_with_its_members_and_an_unsettled_one_empty() {
    use crate::group::records::{GroupMeta, MemberMeta};
    let member = |id: &str| MemberMeta {
        member_id: id.into(),
        instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        rebalance_timeout_ms: 30_000,
        session_timeout_ms: 10_000,
        subscription: Bytes::from_static(b"sub"),
        assignment: Bytes::from(format!("to-{id}")),
    };
    let meta = GroupMeta {
        protocol_type: "consumer".into(),
        generation: 7,
        protocol: Some("range".into()),
        leader: Some("m-2".into()),
        timestamp_ms: 1,
        members: vec![member("m-1"), member("m-2")],
    };
    let now = Instant::now();
    let g = Group::restore("g", &meta, now);
    assert_eq!((g.state, g.generation, g.leader.as_deref()), (GroupState::Stable, 7, Some("m-2")));
    assert_eq!(g.members["m-1"].assignment, Bytes::from_static(b"to-m-1"));
    assert_eq!(g.members["m-2"].metadata("range"), Bytes::from_static(b"sub"));
    // What it persists again is what it was restored from.
    assert_eq!(g.persisted_members(), meta.members);
    let unsettled = GroupMeta { members: Vec::new(), ..meta };
    let g = Group::restore("g", &unsettled, now);
    assert_eq!((g.state, g.generation, g.members.len()), (GroupState::Empty, 7, 0));
}
