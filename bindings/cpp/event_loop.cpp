// bindings/cpp/event_loop.cpp: a producer and a consumer group member in
// one poll(2) loop, through yelp_kafka.hpp.
//
// An event loop never blocks inside the library: it waits on the handles'
// ready descriptors (docs/c-abi.md) and then takes what is there.
// Producer::ready_fd is readable while delivery reports wait, and
// poll(0ms) serves them (here in one on_delivery_batch call);
// ConsumerGroup::ready_fd while fetched messages wait, and next_batch
// fills a MessageBatch until it returns 0. The group is configured with
// consumer_timeout_ms 0 so that next_batch never blocks, and is called at
// least every 250 ms even when its descriptor stays quiet, because a group
// rebalances only inside its calls. Each message is marked done with
// yelp_kafka::task_done, which needs no group handle.
//
// The program joins a new group on TOPIC (reading from the beginning),
// queues COUNT messages tagged with this run, and loops until every
// delivery report came and every tagged message was read back; then it
// prints
//
//     delivered 100, consumed 100 (in 7 batches)
//
// and exits 0, or 1 after thirty seconds without progress (or on SIGINT).
//
// Usage:
//     event_loop [BROKERS ZOOKEEPER [TOPIC [COUNT]]]
// Without BROKERS and ZOOKEEPER they come from YK_KAFKA1 and YK_ZOOKEEPER
// (scripts/cluster.sh up && . target/cluster/env). TOPIC defaults to
// "other", COUNT to 100.
//
// Build against an installed library (README, "Using from C++"):
//     g++ -std=c++17 event_loop.cpp $(pkg-config --cflags --libs yelp_kafka) -o event_loop
#include <yelp_kafka.hpp>

#include <poll.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

namespace yk = yelp_kafka;
using namespace std::chrono_literals;

namespace {

std::atomic<bool> interrupted{false};

std::string argument(int argc, char **argv, int index, const char *variable, const char *fallback)
{
    if (index < argc)
        return argv[index];
    const char *value = variable ? std::getenv(variable) : nullptr;
    if (value != nullptr)
        return value;
    if (fallback != nullptr)
        return fallback;
    std::cerr << "usage: event_loop [BROKERS ZOOKEEPER [TOPIC [COUNT]]] (or set " << variable << ")\n";
    std::exit(2);
}

} // namespace

int main(int argc, char **argv)
{
    yk::ClusterConfig cluster("standard", "cluster1", argument(argc, argv, 1, "YK_KAFKA1", nullptr),
                              argument(argc, argv, 2, "YK_ZOOKEEPER", nullptr));
    std::string topic = argument(argc, argv, 3, nullptr, "other");
    size_t count = std::stoul(argument(argc, argv, 4, nullptr, "100"));
    std::string run = "event-loop-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    std::signal(SIGINT, [](int) { interrupted = true; });

    yk::Producer producer(cluster);
    size_t delivered = 0;
    producer.on_delivery_batch([&](const std::vector<yk::DeliveryReport> &reports) {
        for (const yk::DeliveryReport &r : reports) {
            if (r.error)
                std::cerr << "not delivered: " << r.error->what() << "\n";
            else
                delivered++;
        }
    });

    // ListOffsets is capped at v3 for the local cluster's 2.16 mock, whose
    // newer answers the library does not decode.
    yk::ConsumerGroup group({topic}, {run,
                                      cluster,
                                      {{"consumer_timeout_ms", "0"},
                                       {"auto_offset_reset", "smallest"},
                                       {"partitioner_cooldown", "0.5"},
                                       {"api_version_caps", "ListOffsets:3"}}});
    // Joins now; the allocation comes after the cooldown, inside next_batch.
    group.start(0ms);

    for (size_t i = 0; i < count; i++)
        producer.produce(topic, run + " " + std::to_string(i));

    yk::MessageBatch batch(64);
    size_t consumed = 0;
    size_t batches = 0;
    auto progress = std::chrono::steady_clock::now();
    pollfd fds[2] = {{producer.ready_fd(), POLLIN, 0}, {group.ready_fd(), POLLIN, 0}};
    while ((delivered < count || consumed < count) && !interrupted) {
        ::poll(fds, 2, 250);
        size_t before = delivered + consumed;
        if (fds[0].revents & POLLIN)
            producer.poll(0ms);
        while (group.next_batch(batch) > 0) {
            batches++;
            for (yk::MessageView m : batch) {
                if (m.value() && m.value()->substr(0, run.size() + 1) == run + " ")
                    consumed++;
                yk::task_done(m);
            }
        }
        if (delivered + consumed > before)
            progress = std::chrono::steady_clock::now();
        else if (std::chrono::steady_clock::now() - progress > 30s)
            break;
    }
    group.stop(10s);
    producer.close(10s);
    std::cout << "delivered " << delivered << ", consumed " << consumed << " (in " << batches << " batches)"
              << std::endl;
    return delivered == count && consumed == count ? 0 : 1;
}
