//! The broker-side assignors of KIP-848: uniform (sticky: members keep what they can) and range.
//!
//! Both work on the distinct subscriptions rather than on every member: topics that the same
//! members may take are handed out together, the least-loaded member first from a heap. A group
//! of many members on many partitions (a regex that matches every topic) costs about
//! partitions x log(members), never members x partitions.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use uuid::Uuid;

use super::{Assignment, TopicView};

/// Each member's subscribed topic names; members with equal subscriptions share one set.
pub type Subscriptions = BTreeMap<String, Arc<BTreeSet<String>>>;

/// One distinct subscribed set and its members in id order.
pub(super) type Class<'a> = (&'a Arc<BTreeSet<String>>, Vec<&'a String>);

/// Topics (id, partition count) that the same members, in id order, may take.
type Shared<'a> = (Vec<&'a String>, Vec<(Uuid, i32)>);

/// The distinct subscribed sets, each with its members in id order.
pub(super) fn distinct(subs: &Subscriptions) -> Vec<Class<'_>> {
    let mut out: Vec<Class<'_>> = Vec::new();
    let mut index: HashMap<*const BTreeSet<String>, usize> = HashMap::new();
    for (member, set) in subs {
        let i = *index.entry(Arc::as_ptr(set)).or_insert_with(|| {
            out.push((set, Vec::new()));
            out.len() - 1
        });
        out[i].1.push(member);
    }
    out
}

/// The subscribed topics as (id, partition count) in name order, grouped by who may take them:
/// every topic of one entry has exactly that entry's members (in id order) as subscribers.
fn by_subscribers<'a>(subs: &'a Subscriptions, topics: &TopicView) -> Vec<Shared<'a>> {
    let classes = distinct(subs);
    let mut subscribed_by: BTreeMap<&'a String, Vec<usize>> = BTreeMap::new();
    for (i, (set, _)) in classes.iter().enumerate() {
        let set: &'a BTreeSet<String> = set;
        for name in set {
            subscribed_by.entry(name).or_default().push(i);
        }
    }
    let mut groups: BTreeMap<Vec<usize>, Vec<(Uuid, i32)>> = BTreeMap::new();
    for (name, who) in subscribed_by {
        if let Some((id, count)) = topics.get(name) {
            groups.entry(who).or_default().push((*id, *count));
        }
    }
    groups
        .into_iter()
        .map(|(who, ts)| {
            let mut members: Vec<&'a String> = who.iter().flat_map(|i| classes[*i].1.iter().copied()).collect();
            members.sort();
            (members, ts)
        })
        .collect()
}

/// Balanced and sticky: members keep what they had up to their fair share; the rest goes to
/// the least-loaded member that subscribes to the topic.
pub(super) fn uniform(
    subs: &Subscriptions,
    topics: &TopicView,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let groups = by_subscribers(subs, topics);
    let n: usize = groups.iter().flat_map(|(_, ts)| ts).map(|(_, count)| (*count).max(0) as usize).sum();
    let m = subs.len().max(1);
    let (floor, mut extra) = (n / m, n % m);
    let mut out: BTreeMap<String, Assignment> = subs.keys().map(|k| (k.clone(), Assignment::new())).collect();
    let mut count: HashMap<&str, usize> = subs.keys().map(|k| (k.as_str(), 0)).collect();
    let mut taken: HashSet<(Uuid, i32)> = HashSet::new();
    let by_id: HashMap<Uuid, (&String, i32)> = topics.iter().map(|(name, (id, c))| (*id, (name, *c))).collect();
    for (member, prev) in previous {
        let Some(set) = subs.get(member) else { continue };
        for (t, ps) in prev {
            let Some((name, partitions)) = by_id.get(t) else { continue };
            if !set.contains(*name) {
                continue;
            }
            for p in ps {
                let had = count[member.as_str()];
                let quota = floor + usize::from(extra > 0);
                if *p >= *partitions || had >= quota || taken.contains(&(*t, *p)) {
                    continue;
                }
                if had == floor {
                    extra -= 1;
                }
                taken.insert((*t, *p));
                out.get_mut(member).expect("every member has an entry").entry(*t).or_default().insert(*p);
                *count.get_mut(member.as_str()).expect("every member is counted") += 1;
            }
        }
    }
    for (members, group_topics) in &groups {
        let mut least_loaded: BinaryHeap<Reverse<(usize, &str)>> =
            members.iter().map(|m| Reverse((count[m.as_str()], m.as_str()))).collect();
        for (id, partitions) in group_topics {
            for p in (0..*partitions).filter(|p| !taken.contains(&(*id, *p))) {
                let Some(Reverse((load, member))) = least_loaded.pop() else { break };
                out.get_mut(member).expect("every member has an entry").entry(*id).or_default().insert(p);
                least_loaded.push(Reverse((load + 1, member)));
            }
        }
        for Reverse((load, member)) in least_loaded {
            count.insert(member, load);
        }
    }
    out
}

/// Per topic, contiguous ranges of partitions over the subscribed members sorted by id.
pub(super) fn range(subs: &Subscriptions, topics: &TopicView) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = subs.keys().map(|k| (k.clone(), Assignment::new())).collect();
    for (members, group_topics) in by_subscribers(subs, topics) {
        let k = members.len() as i32;
        for (id, count) in group_topics {
            let (per, extra) = (count / k, count % k);
            let mut next = 0;
            for (i, m) in members.iter().enumerate() {
                let n = per + i32::from((i as i32) < extra);
                if n == 0 {
                    // Every later member gets nothing of this topic either.
                    break;
                }
                out.get_mut(*m).expect("every member has an entry").insert(id, (next..next + n).collect());
                next += n;
            }
        }
    }
    out
}
