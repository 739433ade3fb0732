//! The broker-side assignors of KIP-848: uniform (sticky: members keep what they can) and range.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::{Assignment, TopicView};

/// Partitions of `topics` (sorted by name) each subscribed member may take.
fn partitions_of(names: &BTreeSet<String>, topics: &TopicView) -> Vec<(Uuid, i32)> {
    names.iter().filter_map(|n| topics.get(n)).flat_map(|(id, count)| (0..*count).map(move |p| (*id, p))).collect()
}

/// Balanced and sticky: members keep what they had up to their fair share; the rest goes to
/// the least-loaded member that subscribes to the topic.
pub(super) fn uniform(
    subs: &BTreeMap<String, BTreeSet<String>>,
    topics: &TopicView,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let all: BTreeSet<String> = subs.values().flatten().cloned().collect();
    let partitions = partitions_of(&all, topics);
    let eligible =
        |member: &str, topic: Uuid| subs[member].iter().any(|n| topics.get(n).is_some_and(|(id, _)| *id == topic));
    let n = partitions.len();
    let m = subs.len().max(1);
    let (floor, mut extra) = (n / m, n % m);
    let mut out: BTreeMap<String, Assignment> = subs.keys().map(|k| (k.clone(), Assignment::new())).collect();
    let mut count: BTreeMap<String, usize> = subs.keys().map(|k| (k.clone(), 0)).collect();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    for (member, prev) in previous {
        if !subs.contains_key(member) {
            continue;
        }
        for (t, ps) in prev {
            for p in ps {
                let key = (*t, *p);
                let quota = floor + usize::from(extra > 0);
                if !partitions.contains(&key) || taken.contains(&key) || !eligible(member, *t) || count[member] >= quota
                {
                    continue;
                }
                if count[member] == floor {
                    extra -= 1;
                }
                taken.insert(key);
                out.get_mut(member).unwrap().entry(*t).or_default().insert(*p);
                *count.get_mut(member).unwrap() += 1;
            }
        }
    }
    for key in partitions {
        if taken.contains(&key) {
            continue;
        }
        let best = count.iter().filter(|(mem, _)| eligible(mem, key.0)).min_by_key(|(mem, c)| (**c, (*mem).clone()));
        if let Some((mem, _)) = best {
            let mem = mem.clone();
            out.get_mut(&mem).unwrap().entry(key.0).or_default().insert(key.1);
            *count.get_mut(&mem).unwrap() += 1;
        }
    }
    out
}

/// Per topic, contiguous ranges of partitions over the subscribed members sorted by id.
pub(super) fn range(subs: &BTreeMap<String, BTreeSet<String>>, topics: &TopicView) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = subs.keys().map(|k| (k.clone(), Assignment::new())).collect();
    let all: BTreeSet<String> = subs.values().flatten().cloned().collect();
    for name in all {
        let Some((id, count)) = topics.get(&name) else { continue };
        let members: Vec<&String> = subs.iter().filter(|(_, t)| t.contains(&name)).map(|(m, _)| m).collect();
        let k = members.len() as i32;
        let (per, extra) = (count / k, count % k);
        let mut next = 0;
        for (i, m) in members.iter().enumerate() {
            let n = per + i32::from((i as i32) < extra);
            let set: BTreeSet<i32> = (next..next + n).collect();
            next += n;
            if !set.is_empty() {
                out.get_mut(*m).unwrap().insert(*id, set);
            }
        }
    }
    out
}
