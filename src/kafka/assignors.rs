//! The partition assignors a group leader runs in Kafka's classic group
//! protocol: `range` and `roundrobin`, giving the same result as
//! librdkafka's and the Java client's assignors of those names, so that a
//! group led by any of them splits alike, and `cooperative-sticky`, whose
//! split is balanced and keeps what members own, and which withholds a
//! moved partition until its owner gave it up (docs/consumer-groups.md).
//!
//! Owns nothing but the arithmetic: members with their subscriptions and
//! the partition counts in, each member's partitions out.

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The assignor names this library offers, as librdkafka's
/// `partition.assignment.strategy` spells them.
pub const ASSIGNOR_NAMES: &[&str] = &["range", "roundrobin", "cooperative-sticky"];

/// Whether the assignor `name` rebalances incrementally (members keep
/// their partitions while they rejoin and give up only those moved).
pub fn is_cooperative(name: &str) -> bool {
    name == "cooperative-sticky"
}

/// A member as the leader sees it in the JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The coordinator's member id.
    pub member_id: String,
    /// The static member's instance id.
    pub group_instance_id: Option<String>,
    /// The topics the member subscribes to.
    pub topics: Vec<String>,
    /// The partitions the member holds now, as its subscription says.
    pub owned: Partitions,
}

/// Partitions as `(topic, partition)`.
pub type Partitions = Vec<(String, i32)>;

impl MemberSubscription {
    fn subscribes(&self, topic: &str) -> bool {
        self.topics.iter().any(|t| t == topic)
    }
}

/// Each member's partitions, `(topic, partition)` sorted, by member id.
pub type Assignment = BTreeMap<String, Partitions>;

/// Runs the assignor `name` (one of [`ASSIGNOR_NAMES`]) over `members` and
/// the partition counts of the topics that exist; `None` for an unknown name.
pub fn assign(name: &str, members: &[MemberSubscription], partitions: &BTreeMap<String, i32>) -> Option<Assignment> {
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort_by(|a, b| member_order(a, b));
    let mut assignment: Assignment = members.iter().map(|m| (m.member_id.clone(), Vec::new())).collect();
    match name {
        "range" => range(&sorted, partitions, &mut assignment),
        "roundrobin" => roundrobin(&sorted, partitions, &mut assignment),
        "cooperative-sticky" => cooperative_sticky(&sorted, partitions, &mut assignment),
        _ => return None,
    }
    for owned in assignment.values_mut() {
        owned.sort();
    }
    Some(assignment)
}

/// Members in the order both clients assign in: by instance id when both
/// are static, else by member id.
fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        _ => a.member_id.cmp(&b.member_id),
    }
}

/// Per topic, its subscribers in order each take a consecutive range; the
/// first `count % subscribers` take one more.
fn range(members: &[&MemberSubscription], partitions: &BTreeMap<String, i32>, assignment: &mut Assignment) {
    for (topic, &count) in partitions {
        let subscribers: Vec<&&MemberSubscription> = members.iter().filter(|m| m.subscribes(topic)).collect();
        if subscribers.is_empty() {
            continue;
        }
        let each = count / subscribers.len() as i32;
        let extra = count % subscribers.len() as i32;
        for (index, member) in subscribers.iter().enumerate() {
            let index = index as i32;
            let start = each * index + index.min(extra);
            let length = each + i32::from(index < extra);
            let owned = assignment.entry(member.member_id.clone()).or_default();
            owned.extend((start..start + length).map(|p| (topic.clone(), p)));
        }
    }
}

/// Every partition of the topics in name order, dealt to the members in
/// turn, skipping a member not subscribed to the partition's topic.
fn roundrobin(members: &[&MemberSubscription], partitions: &BTreeMap<String, i32>, assignment: &mut Assignment) {
    let mut next = members.len().saturating_sub(1);
    for (topic, &count) in partitions {
        if !members.iter().any(|m| m.subscribes(topic)) {
            continue;
        }
        for partition in 0..count {
            loop {
                next = (next + 1) % members.len();
                if members[next].subscribes(topic) {
                    break;
                }
            }
            let owned = assignment.entry(members[next].member_id.clone()).or_default();
            owned.push((topic.clone(), partition));
        }
    }
}

/// Sticky and balanced: each member keeps the valid partitions it owns up
/// to its fair share (`count / members`, one more for the first
/// `count % members` members in order), the rest go to the members with
/// the fewest. Then, cooperatively, a partition given to one member but
/// owned by another is withheld this round: its owner gives it up and
/// rejoins, and the next round hands it over.
fn cooperative_sticky(
    members: &[&MemberSubscription],
    partitions: &BTreeMap<String, i32>,
    assignment: &mut Assignment,
) {
    let all: Vec<(String, i32)> = partitions
        .iter()
        .filter(|(topic, _)| members.iter().any(|m| m.subscribes(topic)))
        .flat_map(|(topic, &count)| (0..count).map(move |p| (topic.clone(), p)))
        .collect();
    if members.is_empty() {
        return;
    }
    let floor = all.len() / members.len();
    let mut extra = all.len() % members.len();
    let mut owner: BTreeMap<(String, i32), usize> = BTreeMap::new();
    let mut target: Vec<Vec<(String, i32)>> = vec![Vec::new(); members.len()];
    for (index, member) in members.iter().enumerate() {
        let mut owned: Vec<&(String, i32)> = member
            .owned
            .iter()
            .filter(|p| all.contains(p) && member.subscribes(&p.0) && !owner.contains_key(*p))
            .collect();
        owned.sort();
        let share = if owned.len() > floor && extra > 0 {
            extra -= 1;
            floor + 1
        } else {
            floor
        };
        for partition in owned.into_iter().take(share) {
            owner.insert(partition.clone(), index);
            target[index].push(partition.clone());
        }
    }
    for partition in all.iter().filter(|p| !owner.contains_key(*p)) {
        let taker = (0..members.len())
            .filter(|i| members[*i].subscribes(&partition.0))
            .min_by_key(|i| (target[*i].len(), *i));
        if let Some(taker) = taker {
            target[taker].push(partition.clone());
        }
    }
    let owned_by: BTreeMap<&(String, i32), &str> = members
        .iter()
        .flat_map(|m| m.owned.iter().map(move |p| (p, m.member_id.as_str())))
        .collect();
    for (member, partitions) in members.iter().zip(target) {
        let kept = partitions
            .into_iter()
            .filter(|p| owned_by.get(p).is_none_or(|owner| *owner == member.member_id));
        assignment.entry(member.member_id.clone()).or_default().extend(kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.to_string(),
            group_instance_id: None,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            owned: Vec::new(),
        }
    }

    fn owning(id: &str, owned: &[i32]) -> MemberSubscription {
        let mut subscription = member(id, &["t"]);
        subscription.owned = owned.iter().map(|p| ("t".to_string(), *p)).collect();
        subscription
    }

    fn counts(topics: &[(&str, i32)]) -> BTreeMap<String, i32> {
        topics.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn owned(assignment: &Assignment, id: &str) -> Vec<String> {
        assignment[id].iter().map(|(t, p)| format!("{t}-{p}")).collect()
    }

    #[test]
    fn range_gives_the_first_members_the_extra_partitions_per_topic() {
        let members = [member("c", &["t"]), member("a", &["t"]), member("b", &["t"])];
        let result = assign("range", &members, &counts(&[("t", 8)])).unwrap();
        assert_eq!(owned(&result, "a"), ["t-0", "t-1", "t-2"]);
        assert_eq!(owned(&result, "b"), ["t-3", "t-4", "t-5"]);
        assert_eq!(owned(&result, "c"), ["t-6", "t-7"]);
    }

    #[test]
    fn range_splits_each_topic_on_its_own() {
        let members = [member("a", &["x", "y"]), member("b", &["x", "y"])];
        let result = assign("range", &members, &counts(&[("x", 3), ("y", 3)])).unwrap();
        assert_eq!(owned(&result, "a"), ["x-0", "x-1", "y-0", "y-1"]);
        assert_eq!(owned(&result, "b"), ["x-2", "y-2"]);
    }

    #[test]
    fn roundrobin_deals_across_topics_skipping_non_subscribers() {
        let members = [member("a", &["x", "y"]), member("b", &["y"])];
        let result = assign("roundrobin", &members, &counts(&[("x", 2), ("y", 3)])).unwrap();
        assert_eq!(owned(&result, "a"), ["x-0", "x-1", "y-1"]);
        assert_eq!(owned(&result, "b"), ["y-0", "y-2"]);
    }

    #[test]
    fn more_members_than_partitions_leaves_some_idle() {
        let members = [member("a", &["t"]), member("b", &["t"])];
        for name in ASSIGNOR_NAMES {
            let result = assign(name, &members, &counts(&[("t", 1)])).unwrap();
            assert_eq!(owned(&result, "a"), ["t-0"], "{name}");
            assert!(result["b"].is_empty(), "{name}");
        }
    }

    #[test]
    fn static_members_are_ordered_by_instance_id() {
        let mut first = member("z", &["t"]);
        first.group_instance_id = Some("a".into());
        let mut second = member("a", &["t"]);
        second.group_instance_id = Some("b".into());
        let result = assign("range", &[first, second], &counts(&[("t", 2)])).unwrap();
        assert_eq!(owned(&result, "z"), ["t-0"]);
        assert_eq!(owned(&result, "a"), ["t-1"]);
    }

    #[test]
    fn cooperative_sticky_keeps_owned_partitions_and_withholds_moved_ones() {
        // A third member joins two that own three partitions each.
        let members = [owning("a", &[0, 1, 2]), owning("b", &[3, 4, 5]), owning("c", &[])];
        let first = assign("cooperative-sticky", &members, &counts(&[("t", 6)])).unwrap();
        assert_eq!(owned(&first, "a"), ["t-0", "t-1"], "a keeps its fair share");
        assert_eq!(owned(&first, "b"), ["t-3", "t-4"]);
        assert!(
            first["c"].is_empty(),
            "moved partitions wait for their owner to give them up"
        );
        // Next round: a and b gave t-2 and t-5 up.
        let members = [owning("a", &[0, 1]), owning("b", &[3, 4]), owning("c", &[])];
        let second = assign("cooperative-sticky", &members, &counts(&[("t", 6)])).unwrap();
        assert_eq!(owned(&second, "a"), ["t-0", "t-1"]);
        assert_eq!(owned(&second, "b"), ["t-3", "t-4"]);
        assert_eq!(owned(&second, "c"), ["t-2", "t-5"]);
    }

    #[test]
    fn cooperative_sticky_gives_a_leavers_partitions_to_the_rest_evenly() {
        let members = [owning("a", &[0, 1]), owning("b", &[2, 3])];
        let result = assign("cooperative-sticky", &members, &counts(&[("t", 6)])).unwrap();
        assert_eq!(owned(&result, "a"), ["t-0", "t-1", "t-4"]);
        assert_eq!(owned(&result, "b"), ["t-2", "t-3", "t-5"]);
    }

    #[test]
    fn an_unknown_assignor_is_none() {
        assert!(assign("sticky", &[member("a", &["t"])], &counts(&[("t", 1)])).is_none());
    }
}
