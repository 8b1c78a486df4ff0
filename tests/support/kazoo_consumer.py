"""A Python consumer-group member for tests/chaos.rs: kazoo's SetPartitioner
on the group path our members use (docs/consumer-groups.md, "The ZooKeeper
layout shared with Python members"), consuming what it acquired with
confluent-kafka's Consumer.assign and committing to Kafka, the offset storage
our members are configured with (docs/offsets.md).

It follows Python yelp_kafka's loop: on RELEASE it commits, stops consuming,
then releases the locks; on FAILURE it commits nothing (the partitions may be
another member's) and joins again with a new partitioner. It leaves (commit,
then kazoo's finish) when its stdin closes.

Every line it prints is "YK <wall ms> <name> <incarnation> <EVENT> ...", the
format of the Rust members, so tests/chaos.rs reads both alike.

Usage: kazoo_consumer.py NAME ZOOKEEPER GROUP_PATH BOOTSTRAP TOPIC PARTITIONS
       GROUP_ID COOLDOWN_S SESSION_TIMEOUT_S COMMIT_EVERY COMMIT_AFTER_MS
"""

import logging
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

(name, zookeeper, path, bootstrap, topic, partitions, group_id, cooldown, session_timeout,
 commit_every, commit_after_ms) = sys.argv[1:]
partition_count = int(partitions)
commit_every = int(commit_every)
commit_after = int(commit_after_ms) / 1000.0
incarnation = 0


def log(*fields):
    print("YK", time.time_ns() // 1_000_000, name, incarnation, *fields, flush=True)


def numbers(held):
    return ",".join(str(p) for p in sorted(held))


# kazoo warns on every refused reconnect while ZooKeeper is stopped.
logging.getLogger("kazoo").setLevel(logging.ERROR)

leaving = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), leaving.set()), daemon=True).start()

# Reconnect promptly after a ZooKeeper outage: kazoo's default backoff grows
# to minutes, and the session must be renewed within its timeout after the
# server is back (docs/consumer-groups.md, "Recovery after an outage").
retry = {"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 0.5}
client = KazooClient(hosts=zookeeper, timeout=float(session_timeout),
                     connection_retry=retry, command_retry=retry)
client.start(timeout=15)
consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group_id,
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    # librdkafka backs off up to 10 s between reconnects by default; the
    # recovery times the test reports are the group's, not that backoff.
    "reconnect.backoff.max.ms": 1000,
    # Broker outages are part of the test: librdkafka retries them itself.
    "error_cb": lambda error: None,
    "log_level": 0,
})

partitioner = None
held = None          # partitions assigned now, or None
positions = {}       # partition -> next offset to commit, this tenure
uncommitted = 0
oldest_uncommitted = 0.0


def commit():
    """Commits the positions of what is held; True when Kafka stored them."""
    global uncommitted
    if not positions:
        uncommitted = 0
        return True
    offsets = [TopicPartition(topic, p, o) for p, o in sorted(positions.items())]
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    except KafkaException as error:
        log("COMMIT", "err", str(error).replace(" ", "_"))
        return False
    log("COMMIT", "ok", ",".join("%d=%d" % item for item in sorted(positions.items())))
    uncommitted = 0
    return True


def give_up(then):
    """Python yelp_kafka's release: commit, stop consuming, then `then`."""
    global held
    log("RELEASING", numbers(held))
    committed = commit()
    consumer.unassign()
    held = None
    positions.clear()
    log("RELEASED", "ok" if committed else "err")
    then()


while not leaving.is_set():
    try:
        partitioner = client.SetPartitioner(
            path=path,
            set={"%s-%d" % (topic, p) for p in range(partition_count)},
            time_boundary=float(cooldown),
        )
    except KazooException as error:
        # ZooKeeper unreachable or the session just expired: try again.
        log("RETRY", type(error).__name__)
        time.sleep(0.3)
        continue
    incarnation += 1
    log("STARTED", partitioner._identifier)
    while not leaving.is_set():
        if partitioner.failed:
            # The session is gone: commit nothing, join again.
            log("FAILED", "kazoo")
            if held is not None:
                consumer.unassign()
                held = None
                positions.clear()
            break
        # kazoo moves to RELEASE on every change of the connection, a lost
        # ZooKeeper (SUSPENDED) included: that is when a Python member stops
        # consuming (docs/consumer-groups.md: "Python yelp_kafka members
        # rely on the connection state alone").
        if partitioner.release:
            if held is not None:
                give_up(partitioner.release_set)
            else:
                partitioner.release_set()
            continue
        if partitioner.allocating:
            partitioner.wait_for_acquire(0.1)
            continue
        if held is None:
            held = sorted(int(p.rsplit("-", 1)[1]) for p in partitioner)
            consumer.assign([TopicPartition(topic, p) for p in held])
            positions.clear()
            uncommitted = 0
            log("ACQUIRED", numbers(held))
        message = consumer.poll(0.1)
        if message is not None and message.error() is None and message.partition() in held:
            log("MSG", message.partition(), message.offset(), message.value().decode())
            positions[message.partition()] = message.offset() + 1
            if uncommitted == 0:
                oldest_uncommitted = time.monotonic()
            uncommitted += 1
        if uncommitted and (uncommitted >= commit_every
                            or time.monotonic() - oldest_uncommitted >= commit_after):
            commit()

if held is not None:
    give_up(partitioner.finish)
elif partitioner is not None:
    partitioner.finish()
log("STOPPED", "ok")
consumer.close()
client.stop()
