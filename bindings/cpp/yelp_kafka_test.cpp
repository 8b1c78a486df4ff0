// Tests of yelp_kafka.hpp against the local cluster (scripts/cluster.sh up,
// then source target/cluster/env for YK_KAFKA1, YK_KAFKA2, YK_ZOOKEEPER).
// Built by scripts/bindings-tests.sh with -std=c++17 -Wall -Wextra -Werror
// and ASan + UBSan. Ends with "N passed, M failed".
#include "yelp_kafka.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <type_traits>

namespace yk = yelp_kafka;
using namespace std::chrono_literals;

namespace {

int passed = 0;
int failed = 0;

void check(bool ok, const std::string &what)
{
    if (!ok)
        std::cerr << "  FAILED: " << what << "\n";
    (ok ? passed : failed)++;
}

std::string env(const char *name)
{
    const char *value = std::getenv(name);
    if (value == nullptr) {
        std::cerr << name << " is unset: run scripts/cluster.sh up and source target/cluster/env\n";
        std::exit(1);
    }
    return value;
}

yk::ClusterConfig local_cluster(int n = 1)
{
    return yk::ClusterConfig("standard", "cluster" + std::to_string(n), env(n == 1 ? "YK_KAFKA1" : "YK_KAFKA2"),
                             env("YK_ZOOKEEPER"));
}

std::string unique(const std::string &prefix)
{
    return prefix + "-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
}

// Counts the emitters alive, to check the producer destroys what it asked for.
std::atomic<int> live_emitters{0};

class CountingEmitter : public yk::Emitter {
public:
    explicit CountingEmitter(std::atomic<int> &records) : records_(records) { live_emitters++; }
    ~CountingEmitter() override { live_emitters--; }
    void record(double value, std::chrono::system_clock::time_point) override
    {
        if (value >= 0)
            records_++;
    }

private:
    std::atomic<int> &records_;
};

class CountingResponder : public yk::MetricsResponder {
public:
    std::unique_ptr<yk::Emitter> counter_emitter(const std::string &metric, const Dimensions &dims) override
    {
        return make(metric, dims);
    }
    std::unique_ptr<yk::Emitter> timer_emitter(const std::string &metric, const Dimensions &dims) override
    {
        return make(metric, dims);
    }
    std::vector<std::string> metrics;
    std::atomic<int> records{0};

private:
    std::unique_ptr<yk::Emitter> make(const std::string &metric, const Dimensions &dims)
    {
        metrics.push_back(metric + " cluster_name=" + dims.at("cluster_name"));
        return std::make_unique<CountingEmitter>(records);
    }
};

template <typename F> std::optional<yk::Error> error_of(F &&f)
{
    try {
        f();
    } catch (const yk::Error &e) {
        return e;
    }
    return std::nullopt;
}

void test_errors_carry_code_name_and_retriability()
{
    auto bad = error_of([] { yk::ClusterConfig("standard", "c", "not-a-broker"); });
    check(bad && bad->code() == YK_ERROR_CONFIGURATION && std::string(bad->name()) == "ConfigurationError" &&
              !bad->retriable() && std::string(bad->what()).find("not-a-broker") != std::string::npos,
          "a bad broker is a ConfigurationError naming it");
    // Codes added after the wrapper was written are named from the library's table.
    check(std::string(yk::Error(YK_ERROR_WORKERS_RUNNING, "", 0, false).name()) == "WorkersRunning",
          "code 113 is named WorkersRunning");

    yk::Producer producer(yk::ClusterConfig("standard", "nowhere", "127.0.0.1:1"),
                          {{"metadata_timeout_ms", "300"}, {"retries", "0"}});
    auto unavailable = error_of([&] { producer.send_messages("mytopic", {"lost"}); });
    check(unavailable && unavailable->code() == YK_ERROR_KAFKA_UNAVAILABLE && unavailable->retriable(),
          "an unreachable cluster is a retriable KafkaUnavailableError");
}

// Sync, keyed and async sends; the metrics responder's emitters are made at
// creation, record, and are destroyed with the producer.
void test_producer_round_trip_with_metrics()
{
    CountingResponder responder;
    {
        yk::Producer producer(local_cluster(), {{"client_id", "cpp-test"}}, &responder);
        check(live_emitters == 3 && responder.metrics.size() == 3, "three emitters made at creation");
        auto offsets = producer.send_messages("mytopic", {"cpp message1", "cpp message2"});
        check(offsets.size() == 2 && offsets[0] >= 0 && offsets[1] >= 0, "send_messages returns offsets");
        auto keyed = producer.send_keyed_messages("mytopic", "user-42", {"k1", "k2"});
        check(keyed.size() == 2 && keyed[1] == keyed[0] + 1, "keyed messages land next to each other");

        std::vector<yk::DeliveryReport> reports;
        producer.on_delivery([&](const yk::DeliveryReport &r) { reports.push_back(r); });
        int tags[10];
        for (int i = 0; i < 10; i++)
            producer.produce("mytopic", "async " + std::to_string(i), std::nullopt, 2, &tags[i]);
        producer.flush(10s);
        bool all_ok = reports.size() == 10;
        for (size_t i = 0; i < reports.size(); i++)
            all_ok = all_ok && !reports[i].error && reports[i].partition == 2 && reports[i].opaque == &tags[i] &&
                     reports[i].offset >= 0;
        check(all_ok, "ten delivery reports with their opaque, partition 2 and an offset");
        check(responder.records > 0, "the responder recorded measurements");
        check(producer.close(5s) == 0, "close delivers everything");
    }
    check(live_emitters == 0, "the producer destroyed its emitters");
    check(std::find(responder.metrics.begin(), responder.metrics.end(),
                    "yelp_kafka.YelpKafkaProducer.produce_request_timer cluster_name=cluster1") !=
              responder.metrics.end(),
          "produce_request_timer with the cluster's dimensions");
}

// A callback's exception comes out of the call that ran it; a callback's
// call into its own producer is YK_ERROR_REENTRANT.
void test_callbacks_exceptions_and_reentrancy()
{
    yk::Producer producer(local_cluster());
    std::optional<yk::Error> inner;
    producer.on_delivery([&](const yk::DeliveryReport &) {
        inner = error_of([&] { producer.send_messages("mytopic", {"inner"}); });
        throw std::runtime_error("boom");
    });
    producer.produce("mytopic", "outer");
    std::string thrown;
    try {
        producer.flush(10s);
    } catch (const std::runtime_error &e) {
        thrown = e.what();
    }
    check(thrown == "boom", "flush rethrows the callback's exception");
    check(inner && inner->code() == YK_ERROR_REENTRANT, "a call from the callback is YK_ERROR_REENTRANT");
    producer.on_delivery(nullptr);
    check(producer.send_messages("mytopic", {"after"}).size() == 1, "the producer is usable afterwards");
}

void test_discovery_across_two_clusters()
{
    auto topics = yk::discover_topics(local_cluster());
    check(topics["mytopic"] == std::vector<int32_t>{0, 1, 2} && topics["xmytopic"] == std::vector<int32_t>{0, 1},
          "discover_topics lists mytopic and xmytopic with their partitions");
    auto found = yk::search_topics_by_regex(".*mytopic", {local_cluster(1), local_cluster(2)});
    std::ostringstream text;
    for (const auto &[cluster, names] : found) {
        text << cluster.name() << ":";
        for (const auto &[name, partitions] : names)
            text << " " << name << "/" << partitions.size();
        text << ";";
    }
    check(text.str() == "cluster1: mytopic/3 xmytopic/2;cluster2: team.mytopic/4;",
          "search_topics_by_regex found " + text.str());
    check(local_cluster(1) != local_cluster(2) && yk::ClusterConfig(local_cluster(1)) == local_cluster(1),
          "copies of a cluster are equal, other clusters are not");
}

// A member alone takes the partition of "other", reads from the beginning,
// commits, and gives the partition up on stop.
void test_consumer_group_consumes_what_was_produced()
{
    yk::Producer producer(local_cluster());
    std::string value = unique("cpp group message");
    auto offset = producer.send_messages("other", {value}).at(0);

    std::vector<std::string> events;
    yk::ConsumerConfig config{unique("cpp-group"),
                              local_cluster(),
                              {{"partitioner_cooldown", "0.2"},
                               {"auto_offset_reset", "smallest"},
                               {"consumer_timeout_ms", "200"},
                               {"api_version_caps", "ListOffsets:3"}},
                              [&](const std::vector<yk::TopicPartition> &p) { events.push_back("releasing " + std::to_string(p.size())); },
                              [&](const std::vector<yk::TopicPartition> &p) { events.push_back("acquired " + std::to_string(p.size())); }};
    CountingResponder responder;
    {
        yk::ConsumerGroup constructed({"other"}, config, &responder);
        // Moved before it starts: the rebalance callbacks below still reach
        // this test, and the moved-from group refuses calls.
        yk::ConsumerGroup group = std::move(constructed);
        auto moved = error_of([&] { constructed.next(); });
        check(moved && moved->code() == YK_ERROR_WRONG_STATE && constructed.get() == nullptr,
              "a moved-from group is YK_ERROR_WRONG_STATE");
        check(group.start(30s), "the group allocated within 30 s");
        bool found = false;
        for (int attempts = 0; attempts < 200 && !found; attempts++) {
            try {
                yk::Message m = group.next();
                auto age = std::chrono::system_clock::now() - m.timestamp();
                found = m.offset() == offset && m.value() == std::optional<std::string_view>(value) && !m.key() &&
                        age > -1min && age < 5min;
                group.task_done(m);
            } catch (const yk::Error &e) {
                if (e.code() != YK_ERROR_CONSUMER_TIMEOUT)
                    throw;
                break;
            }
        }
        check(found, "the group consumed the message produced at offset " + std::to_string(offset));
        group.commit();
        group.stop(10s);
        auto closed = error_of([&] { group.next(); });
        check(closed && closed->code() == YK_ERROR_CLOSED_HANDLE, "next after stop is YK_ERROR_CLOSED_HANDLE");
    }
    check(events == std::vector<std::string>{"acquired 1", "releasing 1"}, "rebalance callbacks ran in order");
    check(live_emitters == 0 && !responder.metrics.empty(), "the group made and destroyed its emitters");
}

// Accessors of a temporary message own their bytes; of a named one, view them.
static_assert(std::is_same_v<decltype(std::declval<yk::Message>().value()), std::optional<std::string>>);
static_assert(std::is_same_v<decltype(std::declval<yk::Message>().key()), std::optional<std::string>>);
static_assert(std::is_same_v<decltype(std::declval<yk::Message &>().value()), std::optional<std::string_view>>);
static_assert(std::is_nothrow_move_constructible_v<yk::Producer> && !std::is_copy_constructible_v<yk::Producer>);
static_assert(std::is_nothrow_move_constructible_v<yk::ConsumerGroup>);

// Producers live in a vector that moves them as it grows; each keeps its
// delivery callback, and a moved-from one refuses calls.
void test_producers_move()
{
    std::vector<yk::Producer> producers;
    int delivered = 0;
    for (int i = 0; i < 3; i++) {
        producers.emplace_back(local_cluster());
        producers.back().on_delivery([&](const yk::DeliveryReport &r) { delivered += r.error ? 0 : 1; });
    }
    for (yk::Producer &producer : producers) {
        producer.produce("mytopic", "from a moved producer");
        producer.flush(10s);
    }
    check(delivered == 3, "each producer reported its delivery after the vector moved it");
    yk::Producer taken = std::move(producers[0]);
    auto moved = error_of([&] { producers[0].produce("mytopic", "lost"); });
    check(moved && moved->code() == YK_ERROR_WRONG_STATE, "a moved-from producer is YK_ERROR_WRONG_STATE");
    check(taken.close(5s) == 0, "the producer moved to closes as usual");
}

// A producer destroyed without close() closes itself within
// close_on_destroy: what lingers in its queue is delivered and reported,
// where it used to be dropped without a word.
void test_destroying_a_producer_delivers_what_is_queued()
{
    std::vector<yk::DeliveryReport> reports;
    std::string value = unique("queued at destruction");
    {
        yk::Producer producer(local_cluster(), {{"linger_ms", "60000"}});
        producer.on_delivery([&](const yk::DeliveryReport &r) { reports.push_back(r); });
        producer.set_close_on_destroy(10s);
        for (int i = 0; i < 3; i++)
            producer.produce("mytopic", value, std::nullopt, 1);
        check(producer.queue_length() == 3, "three messages linger in the queue");
    }
    bool delivered = reports.size() == 3;
    for (const yk::DeliveryReport &r : reports)
        delivered = delivered && !r.error && r.partition == 1 && r.offset >= 0;
    check(delivered, "the destructor delivered and reported the 3 queued messages, got " +
                         std::to_string(reports.size()));
}

} // namespace

int main()
{
    const std::pair<const char *, void (*)()> tests[] = {
        {"errors carry code, name and retriability", test_errors_carry_code_name_and_retriability},
        {"producer round trip with metrics", test_producer_round_trip_with_metrics},
        {"callbacks: exceptions and re-entrancy", test_callbacks_exceptions_and_reentrancy},
        {"discovery across two clusters", test_discovery_across_two_clusters},
        {"consumer group consumes what was produced", test_consumer_group_consumes_what_was_produced},
        {"producers move", test_producers_move},
        {"destroying a producer delivers what is queued", test_destroying_a_producer_delivers_what_is_queued},
    };
    for (const auto &[name, test] : tests) {
        std::cout << "== " << name << std::endl;
        try {
            test();
        } catch (const std::exception &e) {
            check(false, std::string("unexpected exception: ") + e.what());
        }
    }
    std::cout << passed << " passed, " << failed << " failed" << std::endl;
    return failed == 0 ? 0 : 1;
}
