//! Which partitions the metadata leader's periodic elections touch, read off the image:
//! auto.leader.rebalance's preferred elections and unclean.leader.election.enable's unclean ones.

use std::collections::BTreeMap;

use super::image::Image;

/// Offline partitions with a live replica, of topics whose unclean.leader.election.enable (the
/// topic's, else the cluster-wide dynamic one, else `default`) is true.
pub fn unclean(image: &Image, default: bool) -> Vec<(String, i32)> {
    const KEY: &str = "unclean.leader.election.enable";
    let cluster_wide = image.broker_configs.get("").and_then(|c| c.get(KEY)).map(|v| v == "true");
    image
        .topics
        .values()
        .filter(|t| t.configs.get(KEY).map(|v| v == "true").or(cluster_wide).unwrap_or(default))
        .flat_map(|t| {
            t.partitions
                .iter()
                .enumerate()
                .filter(|(_, p)| p.leader < 0 && p.replicas.iter().any(|r| image.is_live(*r)))
                .map(|(i, _)| (t.name.clone(), i as i32))
        })
        .collect()
}

/// Of one preferred broker: partitions it is preferred for, those led elsewhere, and of those the
/// ones it may take back.
type Preferred = (usize, usize, Vec<(String, i32)>);

/// The partitions a preferred election would give back to their first replica, for every
/// broker whose share of such partitions is above `percent` of those it is preferred for.
pub fn imbalanced(image: &Image, percent: u32) -> Vec<(String, i32)> {
    let mut preferred: BTreeMap<i32, Preferred> = BTreeMap::new();
    for t in image.topics.values() {
        for (i, p) in t.partitions.iter().enumerate() {
            let Some(first) = p.replicas.first().copied() else { continue };
            let entry = preferred.entry(first).or_default();
            entry.0 += 1;
            if p.leader != first {
                entry.1 += 1;
                if image.is_live(first) && p.isr.contains(&first) {
                    entry.2.push((t.name.clone(), i as i32));
                }
            }
        }
    }
    preferred
        .into_values()
        .filter(|(total, elsewhere, _)| *elsewhere * 100 > *total * percent as usize)
        .flat_map(|(_, _, back)| back)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::image::{BrokerInfo, Command};

    fn image(configs: &[(&str, &str)]) -> Image {
        let mut img = Image::default();
        for id in 1..=3 {
            img.apply(&Command::RegisterBroker { id, info: BrokerInfo { host: "h".into(), port: 1, rack: None } });
        }
        for (name, unclean) in configs {
            let configs = if unclean.is_empty() {
                BTreeMap::new()
            } else {
                BTreeMap::from([("unclean.leader.election.enable".to_string(), unclean.to_string())])
            };
            let id = uuid::Uuid::new_v4();
            img.apply(&Command::CreateTopic { name: name.to_string(), id, assignment: vec![vec![1, 2]], configs });
        }
        img
    }

    #[test]
    fn offline_partitions_of_unclean_topics_with_a_live_replica_are_elected() {
        let mut img = image(&[("on", "true"), ("off", "false"), ("default", "")]);
        assert!(unclean(&img, true).is_empty(), "every partition has a leader");
        // 2 leaves the ISRs, then 1 (the leader) goes: offline, and 2 is live but out of sync.
        img.apply(&Command::FenceBroker { id: 2 });
        img.apply(&Command::FenceBroker { id: 1 });
        assert!(img.topics.values().all(|t| t.partitions[0].leader == -1));
        assert!(unclean(&img, false).is_empty(), "no live replica");
        img.apply(&Command::UnfenceBroker { id: 2 });
        assert_eq!(unclean(&img, false), vec![("on".to_string(), 0)]);
        assert_eq!(unclean(&img, true), vec![("default".to_string(), 0), ("on".to_string(), 0)]);
        img.apply(&Command::SetBrokerConfigs {
            scope: String::new(),
            configs: BTreeMap::from([("unclean.leader.election.enable".to_string(), "true".to_string())]),
        });
        assert_eq!(unclean(&img, false), vec![("default".to_string(), 0), ("on".to_string(), 0)], "cluster-wide");
    }

    #[test]
    fn a_broker_leading_too_few_of_its_preferred_partitions_takes_them_back() {
        let mut img = image(&[("a", ""), ("b", "")]);
        img.apply(&Command::FenceBroker { id: 1 });
        img.apply(&Command::UnfenceBroker { id: 1 });
        assert!(imbalanced(&img, 10).is_empty(), "1 is out of the ISRs");
        for t in ["a", "b"] {
            let leader_epoch = img.topics[t].partitions[0].leader_epoch;
            img.apply(&Command::AlterIsr { topic: t.into(), partition: 0, leader: 2, leader_epoch, isr: vec![1, 2] });
        }
        assert_eq!(imbalanced(&img, 10), vec![("a".to_string(), 0), ("b".to_string(), 0)]);
        assert!(imbalanced(&img, 100).is_empty(), "within the allowed share");
    }
}
