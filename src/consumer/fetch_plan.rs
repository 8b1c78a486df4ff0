//! Which partitions join the next fetches, and to which leader: the
//! fetcher's decision, kept apart from its task so that it can be tested
//! without brokers.
//!
//! Owns the per-partition fetch state the decision reads (assignment,
//! position, fetch in flight, chunks queued, backoff, when it last brought
//! messages) and the plan it returns. A partition is asked for when it has
//! no fetch in flight, fewer than [`QUEUE_DEPTH`] chunks queued, no backoff
//! running, and a known leader whose broker has no fetch running; a
//! partition without a leader backs off and names its topic for a metadata
//! refresh. A broker's fetch waits for enough partitions
//! ([`refill_due`]): without that, an application slower than the
//! brokers would have each chunk it takes fetched again on its own, one
//! fetch and one engine wakeup per chunk. It also waits while it could
//! only wait at the broker: when every partition it would name has
//! reached its high watermark and another of the broker's partitions,
//! with messages left there, waits for room in its queue, that one would
//! otherwise be held out of the broker's next fetch for as long as the
//! broker keeps this one (`fetch_wait_max_ms`). The partitions held with
//! that fetch lose nothing: the queue is handed out in order, so what the
//! fetch would bring would wait behind that partition's chunks anyway.
//! Each fetch names first the
//! partitions that brought messages longest ago: a broker fills its answer
//! in the order asked and stops at `fetch_max_bytes`, so a fixed order
//! would starve the partitions at its end (KIP-74 leaves the rotation to
//! the client).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::backoff::{backoff_over, look_again_at};
use crate::kafka::metadata::ClusterMetadata;
use crate::topic_partition::TopicPartition;

/// Chunks of one partition that may wait in the queue. One is not enough
/// where a broker answers a fetch with one record batch per partition
/// (librdkafka's mock, docs/protocol-notes.md): the application then
/// drains the queue faster than fetches refill it.
pub const QUEUE_DEPTH: u32 = 2;

/// The fetch state of one assigned partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFetch {
    /// The assignment it is fetched for.
    pub assignment: u64,
    /// The next offset to fetch.
    pub position: i64,
    /// Whether a fetch for it is out.
    pub in_flight: bool,
    /// How many of its chunks wait in the queue.
    pub queued: u32,
    /// When its backoff ends, if one runs.
    pub retry_at: Option<Instant>,
    /// The fetcher's count of chunks queued when this partition's last
    /// chunk of messages was queued (0: none yet); the lowest goes first.
    pub served: u64,
    /// The broker it was last asked of (`None`: not asked yet).
    pub leader: Option<i32>,
    /// Whether its last answer reached the partition's high watermark: a
    /// fetch of it alone would wait at the broker for new messages.
    pub caught_up: bool,
}

impl PartitionFetch {
    /// A partition to fetch from `position` on, as assignment `assignment`.
    pub fn new(assignment: u64, position: i64) -> PartitionFetch {
        PartitionFetch {
            assignment,
            position,
            in_flight: false,
            queued: 0,
            retry_at: None,
            served: 0,
            leader: None,
            caught_up: false,
        }
    }
}

/// The fetches to start now.
#[derive(Debug, Default)]
pub struct FetchPlan {
    /// Per leader, the partitions to fetch with their assignment and position.
    pub by_leader: BTreeMap<i32, Vec<(TopicPartition, u64, i64)>>,
    /// Topics with a partition whose leader is unknown.
    pub leaderless: BTreeSet<String>,
    /// When the earliest backoff ends.
    pub next_retry: Option<Instant>,
}

/// Plans the next fetches over `partitions`, led as `metadata` says, where
/// `busy_brokers` already have a fetch out, each leader's partitions in the
/// order they were last served. Partitions planned are marked in flight; a
/// partition without a leader backs off for `retry_backoff` and an ended
/// backoff is cleared.
pub fn plan_fetches(
    partitions: &mut HashMap<TopicPartition, PartitionFetch>,
    metadata: &ClusterMetadata,
    busy_brokers: &HashSet<i32>,
    retry_backoff: Duration,
    now: Instant,
) -> FetchPlan {
    let mut plan = FetchPlan::default();
    let mut rooms: HashMap<i32, BrokerRoom> = HashMap::new();
    let mut asked = Vec::new();
    for (partition, fetch) in partitions.iter_mut() {
        let leader = metadata.leader(partition.topic.as_str(), partition.partition);
        if let Some(leader) = leader {
            rooms.entry(leader).or_default().led += 1;
        }
        if fetch.in_flight {
            continue;
        }
        if fetch.queued >= QUEUE_DEPTH {
            if let Some(leader) = leader {
                rooms.entry(leader).or_default().add_full(fetch);
            }
            continue;
        }
        if !backoff_over(&mut fetch.retry_at, now, &mut plan.next_retry) {
            continue;
        }
        match leader {
            Some(leader) if busy_brokers.contains(&leader) => {}
            Some(leader) => {
                rooms.entry(leader).or_default().add_waiting(fetch);
                asked.push((leader, partition, fetch));
            }
            None => {
                plan.leaderless.insert(partition.topic.as_str().to_string());
                let at = now + retry_backoff;
                fetch.retry_at = Some(at);
                look_again_at(&mut plan.next_retry, at);
            }
        }
    }
    asked.retain(|(leader, ..)| rooms[leader].refill_due());
    asked.sort_by_key(|(_, _, fetch)| fetch.served);
    for (leader, partition, fetch) in asked {
        fetch.in_flight = true;
        fetch.leader = Some(leader);
        plan.by_leader
            .entry(leader)
            .or_default()
            .push((partition.clone(), fetch.assignment, fetch.position));
    }
    plan
}

/// Whether the partitions last asked of `leader` are due a fetch, by the
/// rule of [`BrokerRoom::refill_due`]: what [`Fetcher::take`] asks before
/// it wakes the fetcher, so that a chunk taken wakes it only when that
/// starts a fetch. A partition backing off does not count (the fetcher
/// wakes itself when the backoff ends). The plan itself goes by the
/// current metadata: a partition whose leader moved is fetched at the
/// latest once its queue is empty.
///
/// [`Fetcher::take`]: crate::consumer::fetcher::Fetcher::take
pub fn refill_due(partitions: &HashMap<TopicPartition, PartitionFetch>, leader: i32) -> bool {
    let mut room = BrokerRoom::default();
    for fetch in partitions.values().filter(|fetch| fetch.leader == Some(leader)) {
        room.led += 1;
        if fetch.in_flight {
            continue;
        }
        if fetch.queued >= QUEUE_DEPTH {
            room.add_full(fetch);
        } else if fetch.retry_at.is_none() {
            room.add_waiting(fetch);
        }
    }
    room.refill_due()
}

/// The room in the queue of one broker's partitions.
#[derive(Default)]
struct BrokerRoom {
    /// Its assigned partitions.
    led: usize,
    /// Those that could join a fetch now (room in the queue, no fetch out).
    waiting: usize,
    /// Whether one of those has nothing queued.
    empty: bool,
    /// Whether one of those has messages left at the broker.
    waiting_behind: bool,
    /// Whether a partition with a full queue, no fetch out and no backoff
    /// has messages left at the broker.
    full_behind: bool,
}

impl BrokerRoom {
    fn add_waiting(&mut self, fetch: &PartitionFetch) {
        self.waiting += 1;
        self.empty |= fetch.queued == 0;
        self.waiting_behind |= !fetch.caught_up;
    }

    fn add_full(&mut self, fetch: &PartitionFetch) {
        self.full_behind |= fetch.retry_at.is_none() && !fetch.caught_up;
    }

    /// A broker is asked again once one of its partitions has nothing left
    /// queued (the application is about to need it: no wait there), or
    /// once half of its partitions have room; then every partition with
    /// room joins. In between, chunks the application takes only make
    /// room: the low-water mark of librdkafka's `queued.min.messages`,
    /// counted in partitions. But not while the fetch could only wait at
    /// the broker (every partition with room caught up) and a partition
    /// with messages left waits for room: one chunk taken from it lets it
    /// join, and the fetch then answers at once.
    fn refill_due(&self) -> bool {
        (self.empty || 2 * self.waiting >= self.led) && (self.waiting_behind || !self.full_behind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::metadata::{PartitionMetadata, TopicMetadata};
    use crate::topic_partition::Topic;

    const BACKOFF: Duration = Duration::from_millis(100);

    fn partition(topic: &str, id: i32) -> TopicPartition {
        TopicPartition::new(Topic::new(topic).unwrap(), id)
    }

    /// Topic `t` with partitions led by `leaders[p]` (−1: no leader).
    fn metadata(leaders: &[i32]) -> ClusterMetadata {
        let mut metadata = ClusterMetadata::empty();
        metadata.topics.insert(
            "t".to_string(),
            TopicMetadata {
                error_code: 0,
                partitions: leaders
                    .iter()
                    .enumerate()
                    .map(|(p, leader)| {
                        let led = PartitionMetadata {
                            error_code: 0,
                            leader: *leader,
                        };
                        (p as i32, led)
                    })
                    .collect(),
            },
        );
        metadata
    }

    /// Partitions 0..count of `t`, each assignment p + 1 at position 10 × p.
    fn assigned(count: i32) -> HashMap<TopicPartition, PartitionFetch> {
        (0..count)
            .map(|p| (partition("t", p), PartitionFetch::new(p as u64 + 1, 10 * p as i64)))
            .collect()
    }

    /// The plan now over `partitions`, led as `leaders` says, no broker busy.
    fn plan_now(partitions: &mut HashMap<TopicPartition, PartitionFetch>, leaders: &[i32]) -> FetchPlan {
        plan_fetches(partitions, &metadata(leaders), &HashSet::new(), BACKOFF, Instant::now())
    }

    /// The partition ids a plan asks each leader for, sorted.
    fn asked(plan: &FetchPlan) -> BTreeMap<i32, Vec<i32>> {
        plan.by_leader
            .iter()
            .map(|(leader, partitions)| {
                let mut ids: Vec<i32> = partitions.iter().map(|(p, _, _)| p.partition).collect();
                ids.sort();
                (*leader, ids)
            })
            .collect()
    }

    #[test]
    fn partitions_are_grouped_by_leader_with_their_assignment_and_position() {
        let mut partitions = assigned(3);
        let plan = plan_now(&mut partitions, &[1, 2, 1]);
        assert_eq!(asked(&plan), BTreeMap::from([(1, vec![0, 2]), (2, vec![1])]));
        assert!(plan.by_leader[&2].contains(&(partition("t", 1), 2, 10)));
        assert!(
            partitions.values().all(|fetch| fetch.in_flight),
            "every planned partition is in flight"
        );
        assert!(plan.leaderless.is_empty());
        assert_eq!(plan.next_retry, None);
    }

    #[test]
    fn the_partitions_served_longest_ago_are_asked_first() {
        let mut partitions = assigned(4);
        for (id, served) in [(0, 7), (1, 0), (2, 9), (3, 3)] {
            partitions.get_mut(&partition("t", id)).unwrap().served = served;
        }
        let plan = plan_now(&mut partitions, &[1, 1, 1, 1]);
        let order: Vec<i32> = plan.by_leader[&1].iter().map(|(p, _, _)| p.partition).collect();
        assert_eq!(order, [1, 3, 0, 2]);
    }

    #[test]
    fn a_partition_with_a_fetch_in_flight_is_not_asked_again() {
        let mut partitions = assigned(2);
        let now = Instant::now();
        let first = plan_fetches(&mut partitions, &metadata(&[1, 1]), &HashSet::new(), BACKOFF, now);
        assert_eq!(asked(&first), BTreeMap::from([(1, vec![0, 1])]));
        let second = plan_fetches(&mut partitions, &metadata(&[1, 1]), &HashSet::new(), BACKOFF, now);
        assert!(second.by_leader.is_empty());
    }

    #[test]
    fn a_partition_whose_queue_is_full_waits() {
        let mut partitions = assigned(2);
        partitions.get_mut(&partition("t", 0)).unwrap().queued = QUEUE_DEPTH;
        partitions.get_mut(&partition("t", 1)).unwrap().queued = QUEUE_DEPTH - 1;
        let plan = plan_now(&mut partitions, &[1, 1]);
        assert_eq!(
            asked(&plan),
            BTreeMap::from([(1, vec![1])]),
            "one chunk queued still leaves room"
        );
        assert!(!partitions[&partition("t", 0)].in_flight);
    }

    /// Partitions 0..4 of `t`, all led by broker 1, with `queued` chunks each.
    fn queued_on_one_broker(queued: [u32; 4]) -> HashMap<TopicPartition, PartitionFetch> {
        let mut partitions = assigned(4);
        for (id, queued) in queued.into_iter().enumerate() {
            let fetch = partitions.get_mut(&partition("t", id as i32)).unwrap();
            fetch.queued = queued;
            fetch.leader = Some(1);
        }
        partitions
    }

    #[test]
    fn a_broker_is_asked_again_once_half_its_partitions_have_room() {
        let mut partitions = queued_on_one_broker([QUEUE_DEPTH, QUEUE_DEPTH - 1, QUEUE_DEPTH, QUEUE_DEPTH]);
        let leaders = metadata(&[1, 1, 1, 1]);
        let now = Instant::now();
        assert!(!refill_due(&partitions, 1));
        let waiting = plan_fetches(&mut partitions, &leaders, &HashSet::new(), BACKOFF, now);
        assert!(
            waiting.by_leader.is_empty(),
            "one partition of four with room, and a chunk still queued for it"
        );
        assert!(!partitions[&partition("t", 1)].in_flight);

        partitions.get_mut(&partition("t", 3)).unwrap().queued = QUEUE_DEPTH - 1;
        assert!(refill_due(&partitions, 1));
        let refill = plan_fetches(&mut partitions, &leaders, &HashSet::new(), BACKOFF, now);
        assert_eq!(asked(&refill), BTreeMap::from([(1, vec![1, 3])]));
        assert!(
            !refill_due(&partitions, 1),
            "partitions in flight are no room for another fetch"
        );
    }

    /// Marks the partitions `caught_up` as having reached their high watermark.
    fn caught_up(partitions: &mut HashMap<TopicPartition, PartitionFetch>, caught_up: &[i32]) {
        for id in caught_up {
            partitions.get_mut(&partition("t", *id)).unwrap().caught_up = true;
        }
    }

    #[test]
    fn a_fetch_that_could_only_wait_at_the_broker_waits_for_a_partition_with_messages_left() {
        let mut partitions = queued_on_one_broker([QUEUE_DEPTH, 0, 0, 0]);
        caught_up(&mut partitions, &[1, 2, 3]);
        assert!(
            !refill_due(&partitions, 1),
            "partitions 1 to 3 have nothing left at the broker, partition 0 waits for room"
        );
        let held = plan_now(&mut partitions, &[1, 1, 1, 1]);
        assert!(held.by_leader.is_empty());
        assert!(partitions.values().all(|fetch| !fetch.in_flight));

        partitions.get_mut(&partition("t", 0)).unwrap().queued = QUEUE_DEPTH - 1;
        assert!(refill_due(&partitions, 1), "a chunk of partition 0 taken lets it join");
        let joined = plan_now(&mut partitions, &[1, 1, 1, 1]);
        assert_eq!(asked(&joined), BTreeMap::from([(1, vec![0, 1, 2, 3])]));
    }

    #[test]
    fn a_fetch_that_holds_nothing_back_goes_out() {
        let later = Instant::now() + BACKOFF;
        // Partition 0's queue is full; partitions 1 to 3 have room.
        let cases: [(&[i32], Option<Instant>, &str); 3] = [
            (
                &[0, 1, 2, 3],
                None,
                "partition 0's queue holds all it had: the wait at the broker holds nothing back",
            ),
            (
                &[2, 3],
                None,
                "partition 1 has messages left: the broker answers at once",
            ),
            (
                &[1, 2, 3],
                Some(later),
                "partition 0 backs off: it could not join anyway",
            ),
        ];
        for (reached, backoff, why) in cases {
            let mut partitions = queued_on_one_broker([QUEUE_DEPTH, 0, 0, 0]);
            caught_up(&mut partitions, reached);
            partitions.get_mut(&partition("t", 0)).unwrap().retry_at = backoff;
            assert!(refill_due(&partitions, 1), "{why}");
            let plan = plan_now(&mut partitions, &[1, 1, 1, 1]);
            assert_eq!(asked(&plan), BTreeMap::from([(1, vec![1, 2, 3])]), "{why}");
        }
    }

    #[test]
    fn an_empty_queue_brings_every_partition_of_its_broker_with_room() {
        let mut partitions = queued_on_one_broker([QUEUE_DEPTH, QUEUE_DEPTH - 1, 0, QUEUE_DEPTH]);
        assert!(refill_due(&partitions, 1), "nothing is left queued for partition 2");
        let plan = plan_now(&mut partitions, &[1, 1, 1, 1]);
        assert_eq!(asked(&plan), BTreeMap::from([(1, vec![1, 2])]));
        assert_eq!(partitions[&partition("t", 2)].leader, Some(1));
    }

    #[test]
    fn a_partition_backing_off_makes_no_room() {
        let mut partitions = queued_on_one_broker([0, QUEUE_DEPTH, QUEUE_DEPTH, QUEUE_DEPTH]);
        let now = Instant::now();
        partitions.get_mut(&partition("t", 0)).unwrap().retry_at = Some(now + BACKOFF);
        assert!(!refill_due(&partitions, 1));
        let plan = plan_fetches(&mut partitions, &metadata(&[1, 1, 1, 1]), &HashSet::new(), BACKOFF, now);
        assert!(plan.by_leader.is_empty());
        assert_eq!(plan.next_retry, Some(now + BACKOFF));
    }

    #[test]
    fn the_room_is_counted_per_broker() {
        let mut partitions = queued_on_one_broker([QUEUE_DEPTH - 1, QUEUE_DEPTH - 1, QUEUE_DEPTH - 1, QUEUE_DEPTH]);
        let plan = plan_now(&mut partitions, &[1, 2, 2, 2]);
        assert_eq!(
            asked(&plan),
            BTreeMap::from([(1, vec![0]), (2, vec![1, 2])]),
            "broker 1 leads one partition, with room; broker 2 two of three with room"
        );
    }

    #[test]
    fn a_partition_without_a_leader_is_left_for_the_metadata_refresh() {
        let mut partitions = assigned(2);
        let now = Instant::now();
        let plan = plan_fetches(&mut partitions, &metadata(&[1, -1]), &HashSet::new(), BACKOFF, now);
        assert_eq!(asked(&plan), BTreeMap::from([(1, vec![0])]));
        assert_eq!(plan.leaderless, BTreeSet::from(["t".to_string()]));
        assert_eq!(partitions[&partition("t", 1)].retry_at, Some(now + BACKOFF));
        assert_eq!(
            plan.next_retry,
            Some(now + BACKOFF),
            "the fetcher looks again after the backoff"
        );
        assert!(!partitions[&partition("t", 1)].in_flight);
    }

    #[test]
    fn a_partition_backing_off_waits_until_its_backoff_ends() {
        let mut partitions = assigned(1);
        let now = Instant::now();
        partitions.get_mut(&partition("t", 0)).unwrap().retry_at = Some(now + BACKOFF);
        let waiting = plan_fetches(&mut partitions, &metadata(&[1]), &HashSet::new(), BACKOFF, now);
        assert!(waiting.by_leader.is_empty());
        assert_eq!(waiting.next_retry, Some(now + BACKOFF));

        let later = plan_fetches(
            &mut partitions,
            &metadata(&[1]),
            &HashSet::new(),
            BACKOFF,
            now + BACKOFF,
        );
        assert_eq!(asked(&later), BTreeMap::from([(1, vec![0])]));
        assert_eq!(
            partitions[&partition("t", 0)].retry_at,
            None,
            "the ended backoff is cleared"
        );
    }

    #[test]
    fn a_broker_with_a_fetch_out_gets_no_second_one() {
        let mut partitions = assigned(2);
        let busy = HashSet::from([1]);
        let plan = plan_fetches(&mut partitions, &metadata(&[1, 2]), &busy, BACKOFF, Instant::now());
        assert_eq!(asked(&plan), BTreeMap::from([(2, vec![1])]));
        assert!(
            !partitions[&partition("t", 0)].in_flight,
            "asked once the broker's fetch ends"
        );
        assert_eq!(plan.next_retry, None, "the fetch's end wakes the fetcher");
    }
}
