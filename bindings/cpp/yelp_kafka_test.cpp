// Tests of yelp_kafka.hpp against the local cluster (scripts/cluster.sh up,
// then source target/cluster/env for YK_KAFKA1, YK_KAFKA2, YK_ZOOKEEPER).
// Built by scripts/bindings-tests.sh with -std=c++17 -Wall -Wextra -Werror
// and ASan + UBSan. Ends with "N passed, M failed".
#include "yelp_kafka.hpp"

#include <poll.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
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

// A new topic on cluster 1, so that a test that drains its consumer sees
// no messages but its own (the other suites write to the demo topics).
std::string fresh_topic(const std::string &prefix, int partitions)
{
    std::string name = unique(prefix);
    std::string command = "\"" + env("YK_CLUSTER_SH") + "\" kafka 1 topic " + name + " " +
                          std::to_string(partitions) + " >/dev/null";
    if (std::system(command.c_str()) != 0)
        throw std::runtime_error("could not create topic " + name);
    return name;
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

void test_configuration_checks_and_dumps()
{
    check(!yk::version().empty() && std::string(yk::Error(YK_ERROR_QUEUE_FULL, "", 0, false).description()) != "",
          "the version and an error's description");
    yk::validate_client_options({{"client_id", "cpp"}, {"request_timeout_ms", "500"}});
    auto unknown = error_of([] { yk::validate_client_options({{"no_such_option", "1"}}); });
    check(unknown && unknown->code() == YK_ERROR_CONFIGURATION &&
              std::string(unknown->what()).find("no_such_option") != std::string::npos,
          "an unknown client option is a ConfigurationError naming it");
    std::string client = yk::client_options_dump({{"client_id", "cpp-dump"}});
    check(client.find("client_id = cpp-dump") != std::string::npos && client.find("(default)") != std::string::npos,
          "the client dump shows the option set and the defaults");
    yk::ConsumerConfig config{"cpp-dump-group", local_cluster(), {{"auto_offset_reset", "earliest"}}};
    std::string consumer = yk::consumer_config_dump(config);
    check(consumer.find("cpp-dump-group") != std::string::npos &&
              consumer.find("auto_offset_reset = earliest") != std::string::npos,
          "the consumer dump shows the group and auto_offset_reset = earliest:\n" + consumer);
    config.options["auto_offset_reset"] = "sometime";
    auto bad = error_of([&] { yk::consumer_config_dump(config); });
    check(bad && bad->code() == YK_ERROR_CONFIGURATION, "a bad consumer option is a ConfigurationError");
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

// A member alone takes the partition of a topic of its own, reads from the start,
// commits, and gives the partition up on stop.
void test_consumer_group_consumes_what_was_produced()
{
    yk::Producer producer(local_cluster());
    std::string value = unique("cpp group message");
    std::string topic = fresh_topic("cpp-group", 1);
    auto offset = producer.send_messages(topic, {value}).at(0);

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
        yk::ConsumerGroup constructed({topic}, config, &responder);
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


// A batch's views are only reachable from a named batch, and a Message's
// whole view only from a named Message.
template <typename T, typename = void> struct iterable : std::false_type {};
template <typename T> struct iterable<T, std::void_t<decltype(std::declval<T>().begin())>> : std::true_type {};
template <typename T, typename = void> struct viewable : std::false_type {};
template <typename T> struct viewable<T, std::void_t<decltype(std::declval<T>().view())>> : std::true_type {};
static_assert(iterable<yk::MessageBatch &>::value && !iterable<yk::MessageBatch>::value);
static_assert(viewable<yk::Message &>::value && !viewable<yk::Message>::value);
static_assert(std::is_nothrow_move_constructible_v<yk::Consumer> && !std::is_copy_constructible_v<yk::Consumer>);
static_assert(std::is_nothrow_move_constructible_v<yk::CallbackGroup>);
static_assert(std::is_nothrow_move_constructible_v<yk::MultiprocessingGroup>);
static_assert(std::is_nothrow_move_constructible_v<yk::MessageBatch>);

yk::ConsumerConfig group_config(const std::string &prefix)
{
    return {unique(prefix),
            local_cluster(),
            {{"partitioner_cooldown", "0.2"},
             {"auto_offset_reset", "smallest"},
             {"consumer_timeout_ms", "200"},
             {"api_version_caps", "ListOffsets:3"}},
            nullptr,
            nullptr};
}

bool readable_within(int fd, std::chrono::milliseconds timeout)
{
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 && (p.revents & POLLIN) != 0;
}

// The consumer a signal handler wakes (wakeup is async-signal-safe).
std::atomic<const yk::Consumer *> consumer_to_wake{nullptr};

void wake_consumer(int)
{
    if (const yk::Consumer *c = consumer_to_wake.load())
        c->wakeup();
}

template <typename F> std::chrono::milliseconds time_of(F &&f)
{
    auto begin = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - begin);
}

// The batch's columns and packed values and keys say what its views say.
void check_columns(const yk::MessageBatch &batch)
{
    auto columns = batch.columns();
    auto values = batch.values();
    auto keys = batch.keys();
    bool same = columns.offsets.size() == batch.size() && values.lengths.size() == batch.size();
    size_t value_at = 0, key_at = 0;
    for (size_t i = 0; same && i < batch.size(); i++) {
        yk::MessageView m = batch[i];
        auto unpack = [](const yk::MessageBatch::Packed &packed, size_t i, size_t &at) {
            if (packed.lengths[i] < 0)
                return std::optional<std::string_view>();
            std::string_view bytes(packed.bytes.data() + at, static_cast<size_t>(packed.lengths[i]));
            at += bytes.size();
            return std::optional<std::string_view>(bytes);
        };
        same = columns.offsets[i] == m.offset() && columns.partitions[i] == m.partition() &&
               std::chrono::system_clock::time_point(std::chrono::milliseconds(columns.timestamps[i])) == m.timestamp() && columns.topics[i] == m.topic() &&
               unpack(values, i, value_at) == m.value() && unpack(keys, i, key_at) == m.key();
    }
    check(same && value_at == values.bytes.size() && key_at == keys.bytes.size(),
          "the batch's columns and packed values and keys match its views");
}

// Record headers go out with produce/send_with_headers and come back in the
// simple consumer's batch views: null, empty and plain values kept apart.
void test_simple_consumer_batches_headers_wakeup_and_ready_fd()
{
    yk::Producer producer(local_cluster());
    std::string topic = fresh_topic("cpp-simple", 2);
    std::string value = unique("cpp headers");
    int64_t offset = producer.send_with_headers(topic, value, {{"trace", "t-1"}, {"empty", ""}, {"none", {}}},
                                                "key-1", 0);

    yk::ConsumerConfig config = group_config("cpp-simple");
    yk::Consumer constructed = yk::Consumer::simple(config, topic, {0});
    yk::Consumer consumer = std::move(constructed);
    auto moved = error_of([&] { constructed.connect(); });
    check(moved && moved->code() == YK_ERROR_WRONG_STATE && !constructed.wakeup(),
          "a moved-from consumer is YK_ERROR_WRONG_STATE and its wakeup does nothing");
    consumer.connect();
    check(readable_within(consumer.ready_fd(), 10s), "ready_fd became readable once messages were fetched");

    yk::MessageBatch batch(16);
    bool found = false;
    int64_t last = -1;
    for (int attempts = 0; attempts < 100 && !found; attempts++) {
        consumer.next_batch(batch, 1s);
        for (yk::MessageView m : batch) {
            consumer.task_done(m);
            last = m.offset();
            if (m.offset() != offset)
                continue;
            check_columns(batch);
            auto headers = m.headers();
            found = m.value() == std::optional<std::string_view>(value) && m.key() == "key-1" &&
                    m.topic() == topic && m.partition() == 0 && headers.size() == 3 &&
                    headers[0].name == "trace" && headers[0].value == "t-1" && headers[1].value == "" &&
                    !headers[2].value;
        }
    }
    check(found, "the batch held the message at offset " + std::to_string(offset) + " with its key and 3 headers");
    while (consumer.next_batch(batch, 0ms) > 0) {
        for (yk::MessageView m : batch)
            last = m.offset();
        batch.task_done();
    }
    batch.task_done();
    check(!readable_within(consumer.ready_fd(), 0ms) && batch.empty(),
          "draining left ready_fd quiet; an empty batch's task_done marks nothing");
    consumer.commit();
    auto committed = yk::Offsets(local_cluster()).current(config.group_id, {{topic, {0}}});
    check(committed.size() == 1 && committed[0].committed == last + 1,
          "commit stored the offset after the last message marked done");

    check(consumer.wakeup(), "wakeup is accepted");
    std::optional<yk::Error> woken;
    auto took = time_of([&] { woken = error_of([&] { consumer.get_message(true, -1ms); }); });
    check(woken && woken->code() == YK_ERROR_WOKEN_UP && took < 1s,
          "a kept wakeup ends the next unlimited get_message at once with YK_ERROR_WOKEN_UP");
    std::thread waker([&] {
        std::this_thread::sleep_for(300ms);
        consumer.wakeup();
    });
    took = time_of([&] { woken = error_of([&] { consumer.next_batch(batch, -1ms); }); });
    waker.join();
    check(woken && woken->code() == YK_ERROR_WOKEN_UP && took >= 250ms && took < 2s,
          "a wakeup from another thread ends a blocked next_batch, after " + std::to_string(took.count()) + " ms");
    consumer_to_wake = &consumer;
    std::signal(SIGALRM, wake_consumer);
    itimerval in_300ms{{0, 0}, {0, 300000}};
    setitimer(ITIMER_REAL, &in_300ms, nullptr);
    took = time_of([&] { woken = error_of([&] { consumer.get_message(true, -1ms); }); });
    // Should the call return before the alarm, the alarm must not outlive the handler.
    itimerval never{{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &never, nullptr);
    std::signal(SIGALRM, SIG_DFL);
    consumer_to_wake = nullptr;
    check(woken && woken->code() == YK_ERROR_WOKEN_UP && took >= 250ms && took < 2s,
          "a wakeup from a SIGALRM handler ends a blocked get_message, after " + std::to_string(took.count()) +
              " ms");
    consumer.close();
    auto closed = error_of([&] { consumer.get_message(false); });
    check(closed && closed->code() == YK_ERROR_CLOSED_HANDLE, "get_message after close is YK_ERROR_CLOSED_HANDLE");
}

// The plain consumer of a whole topic; commit_message commits one
// partition up to a message; yk::task_done of a closed consumer's message
// is YK_ERROR_CLOSED_HANDLE.
void test_plain_consumer_commits_a_message()
{
    yk::Producer producer(local_cluster());
    std::string topic = fresh_topic("cpp-plain", 3);
    std::string value = unique("cpp plain");
    int64_t offset = producer.send_with_headers(topic, value, {}, std::nullopt, 2);
    yk::ConsumerConfig config = group_config("cpp-plain");
    std::optional<yk::Message> kept;
    {
        yk::Consumer consumer(config, {topic});
        consumer.connect();
        for (int attempts = 0; attempts < 500 && !kept; attempts++) {
            std::optional<yk::Message> m = consumer.get_message(true, 1s);
            if (m && m->partition() == 2 && m->offset() == offset && m->value() == std::optional<std::string_view>(value))
                kept = std::move(m);
        }
        check(kept.has_value(), "the plain consumer read the message produced to partition 2");
        if (!kept)
            return;
        consumer.commit_message(*kept);
        check(kept->view().offset() == offset && kept->headers().empty(), "a message without headers has none");
    }
    auto rows = yk::Offsets(local_cluster()).current(config.group_id, {{topic, {}}});
    bool partition2 = false;
    for (const yk::PartitionOffsets &r : rows)
        partition2 = partition2 || (r.partition == 2 && r.committed == offset + 1);
    check(rows.size() == 3 && partition2, "commit_message stored offset + 1 for partition 2");
    auto late = error_of([&] { yk::task_done(*kept); });
    check(late && late->code() == YK_ERROR_CLOSED_HANDLE,
          "task_done of a message whose consumer is gone is YK_ERROR_CLOSED_HANDLE");
    check(std::move(*kept).value() == value, "the message outlives its consumer");
}

void test_offsets_watermarks_distance_and_moves()
{
    yk::Producer producer(local_cluster());
    producer.send_messages("mytopic", {"w1", "w2"});
    // The 2.16 mock answers ListOffsets above v3 with bytes the decoder refuses.
    yk::Offsets offsets(local_cluster(), {{"api_version_caps", "ListOffsets:3"}});
    auto marks = offsets.watermarks({{"mytopic", {}}});
    check(marks.size() == 3 && marks[0].topic == "mytopic" && marks[2].partition == 2, "watermarks of 3 partitions");
    const yk::PartitionOffsets &p0 = marks[0];
    check(p0.high_watermark >= p0.low_watermark && p0.committed == -1, "a high watermark at or above the low one");
    std::string group = unique("cpp-offsets");
    auto set = offsets.set(group, {{"mytopic", 0, p0.low_watermark}});
    check(set.size() == 1 && set[0].committed == p0.low_watermark, "set commits the offset given");
    auto distance = offsets.offset_distance(group, "mytopic", {0});
    check(distance.size() == 1 && distance[0].lag == p0.high_watermark - p0.low_watermark,
          "offset_distance is high watermark - committed");
    auto advanced = offsets.advance(group, {{"mytopic", {0}}});
    check(advanced.size() == 1 && advanced[0].committed >= p0.high_watermark, "advance commits the high watermark");
    auto after = offsets.topics_offset_distance(group, {{"mytopic", {0}}});
    check(after.size() == 1 && after[0].lag == 0, "no lag after advance");
    auto rewound = offsets.rewind(group, {{"mytopic", {0}}});
    check(rewound.size() == 1 && rewound[0].committed == p0.low_watermark, "rewind commits the low watermark");
    check(offsets.current(group, {{"mytopic", {0}}}).at(0).committed == p0.low_watermark,
          "current reads what rewind committed");
    auto unknown = error_of([&] { offsets.watermarks({{"no-such-topic", {}}}); });
    check(unknown && unknown->code() == YK_ERROR_UNKNOWN_TOPIC, "an unknown topic is YK_ERROR_UNKNOWN_TOPIC");
    check(offsets.watermarks({{"no-such-topic", {}}}, false).empty(), "without raise_on_error it is left out");
}

void test_topology_from_a_file()
{
    char dir[] = "/tmp/yk-cpp-topology-XXXXXX";
    check(mkdtemp(dir) != nullptr, "a temporary directory");
    std::string file = std::string(dir) + "/standard.yaml";
    // The brokers in the file's list form: "a:1,b:2" becomes ["a:1", "b:2"].
    auto yaml_list = [](std::string brokers) {
        std::string out = "[\"";
        for (char c : brokers)
            out += c == ',' ? std::string("\", \"") : std::string(1, c);
        return out + "\"]";
    };
    std::ofstream(file) << "clusters:\n  cluster1:\n    broker_list: " << yaml_list(env("YK_KAFKA1"))
                        << "\n    zookeeper: \"" << env("YK_ZOOKEEPER") << "\"\n  cluster2:\n    broker_list: "
                        << yaml_list(env("YK_KAFKA2")) << "\n    zookeeper: \"" << env("YK_ZOOKEEPER")
                        << "\"\nlocal_config:\n  cluster: cluster2\n";
    yk::Topology topology("standard", dir);
    auto clusters = topology.clusters();
    check(clusters.size() == 2 && clusters[0] == local_cluster(1) && clusters[1] == local_cluster(2),
          "clusters() lists both, sorted by name");
    check(topology.cluster("cluster1") == local_cluster(1) && topology.local_cluster() == local_cluster(2),
          "cluster(name) and local_cluster()");
    auto missing = error_of([&] { topology.cluster("cluster3"); });
    check(missing && missing->code() == YK_ERROR_CONFIGURATION, "an undefined cluster is YK_ERROR_CONFIGURATION");
    auto no_file = error_of([&] { yk::Topology("nothing", dir); });
    check(no_file && no_file->code() == YK_ERROR_CONFIGURATION, "a missing file is YK_ERROR_CONFIGURATION");
    std::remove(file.c_str());
    rmdir(dir);
}

// start() times out before the cooldown; wait_assignment waits for it.
// Batches come through next_batch; a kept wakeup ends the next one.
void test_group_batches_wait_assignment_and_wakeup()
{
    yk::Producer producer(local_cluster());
    std::string topic = fresh_topic("cpp-group-batch", 1);
    std::string value = unique("cpp group batch");
    int64_t offset = producer.send_messages(topic, {value}).at(0);
    yk::ConsumerConfig config = group_config("cpp-group-batch");
    config.options["partitioner_cooldown"] = "1";
    yk::ConsumerGroup group({topic}, config);
    check(!group.start(0ms), "start(0 ms) returns before the 1 s cooldown");
    check(group.wait_assignment(30s), "wait_assignment saw the allocation");
    check(group.ready_fd() >= 0, "the group has a ready_fd");
    yk::MessageBatch batch(32);
    bool found = false;
    for (int attempts = 0; attempts < 100 && !found; attempts++) {
        if (group.next_batch(batch) == 0)
            break;
        for (const yk::MessageView &m : batch) {
            found = found || (m.offset() == offset && m.value() == std::optional<std::string_view>(value));
            group.task_done(m);
        }
    }
    check(found, "next_batch delivered the message at offset " + std::to_string(offset));
    size_t held = batch.size();
    yk::MessageBatch taken = std::move(batch);
    auto refill = error_of([&] { group.next_batch(batch); });
    check(taken.size() == held && held > 0 && batch.empty() && refill &&
              refill->code() == YK_ERROR_INVALID_ARGUMENT,
          "a moved batch keeps its views; the moved-from one is empty and filling it throws");
    batch = std::move(taken);
    while (group.next_batch(batch) > 0) {
    }
    group.wakeup();
    std::optional<yk::Error> woken;
    auto took = time_of([&] { woken = error_of([&] { group.next_batch(batch); }); });
    check(woken && woken->code() == YK_ERROR_WOKEN_UP && took < 150ms, "a kept wakeup ends next_batch at once");
    group.commit();
    check(yk::Offsets(local_cluster()).current(config.group_id, {{topic, {}}}).at(0).committed > offset,
          "the group committed past the batch's messages");
    group.stop(10s);
    auto closed = error_of([&] { group.wait_assignment(0ms); });
    check(closed && closed->code() == YK_ERROR_CLOSED_HANDLE, "wait_assignment after stop is YK_ERROR_CLOSED_HANDLE");
}

// The callback group calls process on run()'s thread, and stop() from
// process ends run(); an exception from process comes out of run().
void test_callback_group()
{
    yk::Producer producer(local_cluster());
    std::string value = unique("cpp callback group");
    producer.send_messages("other", {value});
    yk::ConsumerConfig config = group_config("cpp-callback");
    std::vector<std::string> events;
    config.post_rebalance = [&](const std::vector<yk::TopicPartition> &p) {
        events.push_back("acquired " + p.at(0).first);
    };
    std::thread::id runner = std::this_thread::get_id();
    bool found = false;
    bool on_run_thread = true;
    yk::CallbackGroup *self = nullptr;
    yk::CallbackGroup group({"other"}, config, [&](const yk::MessageView &m) {
        on_run_thread = on_run_thread && std::this_thread::get_id() == runner;
        if (m.value() == std::optional<std::string_view>(value)) {
            found = true;
            self->stop(0ms);
        }
    });
    self = &group;
    std::atomic<bool> returned{false};
    std::thread watchdog([&] {
        for (int i = 0; i < 600 && !returned; i++)
            std::this_thread::sleep_for(50ms);
        if (!returned)
            group.stop(0ms);
    });
    group.run();
    returned = true;
    watchdog.join();
    check(found && on_run_thread, "process saw the message on run()'s thread and stop() from it ended run()");
    check(events == std::vector<std::string>{"acquired other"}, "the post-rebalance function ran");
    check(yk::Offsets(local_cluster()).current(config.group_id, {{"other", {}}}).at(0).committed > 0,
          "run() committed what was processed");

    yk::CallbackGroup failing({"other"}, group_config("cpp-callback-fails"),
                              [](const yk::MessageView &) { throw std::runtime_error("bad message"); });
    std::string thrown;
    try {
        failing.run();
    } catch (const std::runtime_error &e) {
        thrown = e.what();
    }
    check(thrown == "bad message", "run() rethrows the exception of process");
}

// Thread workers run on library threads, one per partition; stop() ends
// them and destroys each worker.
struct SeenByWorkers {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::string> values;
    bool off_main_thread = true;
    int live = 0;
};

class RecordingWorker : public yk::ThreadWorker {
public:
    RecordingWorker(SeenByWorkers &seen, std::thread::id main) : seen_(seen), main_(main)
    {
        std::lock_guard<std::mutex> lock(seen_.mutex);
        seen_.live++;
    }
    ~RecordingWorker() override
    {
        std::lock_guard<std::mutex> lock(seen_.mutex);
        seen_.live--;
    }
    void process(const yk::MessageView &message) override
    {
        std::lock_guard<std::mutex> lock(seen_.mutex);
        seen_.off_main_thread = seen_.off_main_thread && std::this_thread::get_id() != main_;
        seen_.values.emplace_back(message.value().value_or(""));
        seen_.changed.notify_all();
    }

private:
    SeenByWorkers &seen_;
    std::thread::id main_;
};

void test_thread_workers()
{
    yk::Producer producer(local_cluster());
    std::string value = unique("cpp thread worker");
    producer.send_messages("other", {value});
    SeenByWorkers seen;
    auto main = std::this_thread::get_id();
    auto group = yk::MultiprocessingGroup::threads(
        {"other"}, group_config("cpp-threads"),
        [&](const std::string &, int32_t) { return std::make_unique<RecordingWorker>(seen, main); });
    std::thread starter([&] { group.start(); });
    bool found;
    {
        std::unique_lock<std::mutex> lock(seen.mutex);
        found = seen.changed.wait_for(lock, 30s, [&] {
            return std::find(seen.values.begin(), seen.values.end(), value) != seen.values.end();
        });
    }
    auto workers = group.consumers();
    check(workers.size() == 1 && workers[0].topic == "other" && workers[0].partition == 0 && workers[0].pid == 0,
          "consumers() lists one thread worker of other/0");
    check(group.stop(20s), "stop() returned within 20 s");
    starter.join();
    std::lock_guard<std::mutex> lock(seen.mutex);
    check(found && seen.off_main_thread, "a worker processed the message on a library thread");
    check(seen.live == 0, "every worker was destroyed");
}

class FailingWorker : public yk::ThreadWorker {
public:
    void process(const yk::MessageView &) override { throw std::runtime_error("cannot process"); }
};

// A worker whose process throws ends and is started again.
void test_failing_thread_worker_restarts()
{
    yk::Producer producer(local_cluster());
    producer.send_messages("other", {unique("cpp failing worker")});
    auto group = yk::MultiprocessingGroup::threads({"other"}, group_config("cpp-failing"), [](const std::string &,
                                                                                               int32_t) {
        return std::make_unique<FailingWorker>();
    });
    std::thread starter([&] { group.start(); });
    int64_t restarts = 0;
    for (int i = 0; i < 200 && restarts < 1; i++) {
        std::this_thread::sleep_for(100ms);
        auto workers = group.consumers();
        restarts = workers.empty() ? 0 : workers[0].restarts;
    }
    check(group.stop(20s), "stop() returned within 20 s");
    starter.join();
    check(restarts >= 1, "the failing worker was restarted");
}

// The worker program of the process-mode test: this binary run with
// --worker FILE VALUE. It reads its partition with Consumer::for_worker,
// writes "topic partition" to FILE when VALUE comes, and ends when the
// group's SIGTERM wakes it.
int run_worker(const std::string &file, const std::string &value)
{
    yk::Consumer consumer = yk::Consumer::for_worker();
    consumer_to_wake = &consumer;
    std::signal(SIGTERM, wake_consumer);
    consumer.connect();
    yk::MessageBatch batch(16);
    try {
        for (;;) {
            consumer.next_batch(batch, -1ms);
            for (const yk::MessageView &m : batch) {
                if (m.value() == std::optional<std::string_view>(value))
                    std::ofstream(file) << m.topic() << " " << m.partition() << "\n";
                consumer.task_done(m);
            }
        }
    } catch (const yk::Error &e) {
        if (e.code() != YK_ERROR_WOKEN_UP)
            throw;
    }
    consumer.close();
    consumer_to_wake = nullptr;
    return 0;
}

void test_process_workers()
{
    yk::Producer producer(local_cluster());
    std::string value = unique("cpp process worker");
    producer.send_messages("other", {value});
    char self[4096] = {};
    check(readlink("/proc/self/exe", self, sizeof self - 1) > 0, "this program's path");
    std::string file = unique("/tmp/yk-cpp-worker");
    yk::ConsumerConfig config = group_config("cpp-processes");
    auto group = yk::MultiprocessingGroup::processes({"other"}, config, {self, "--worker", file, value});
    std::thread starter([&] { group.start(); });
    std::string line;
    for (int i = 0; i < 300 && line.empty(); i++) {
        std::this_thread::sleep_for(100ms);
        std::getline(std::ifstream(file), line);
    }
    auto workers = group.consumers();
    check(workers.size() == 1 && workers[0].pid > 0 && workers[0].topic == "other",
          "consumers() lists one worker process");
    check(group.stop(20s), "stop() returned within 20 s");
    starter.join();
    check(line == "other 0", "the worker process read the message of other/0, wrote '" + line + "'");
    check(yk::Offsets(local_cluster()).current(config.group_id, {{"other", {}}}).at(0).committed > 0,
          "the worker committed when SIGTERM woke it");
    std::remove(file.c_str());
}

// Reports come in one call per flush; a wakeup ends poll; ready_fd is
// readable while reports wait.
void test_producer_batched_reports_wakeup_and_ready_fd()
{
    yk::Producer producer(local_cluster());
    std::vector<size_t> calls;
    size_t ok = 0;
    producer.on_delivery_batch([&](const std::vector<yk::DeliveryReport> &reports) {
        calls.push_back(reports.size());
        for (const yk::DeliveryReport &r : reports)
            ok += !r.error && r.offset >= 0 ? 1 : 0;
    });
    for (int i = 0; i < 20; i++)
        producer.produce_with_headers("mytopic", "batched " + std::to_string(i), {{"n", std::to_string(i)}});
    producer.flush(10s);
    check(ok == 20 && calls.size() == 1, "20 reports in " + std::to_string(calls.size()) + " call(s)");

    producer.produce("mytopic", "ready");
    check(readable_within(producer.ready_fd(), 10s), "ready_fd is readable once the report waits");
    check(producer.poll(0ms) == 1 && ok == 21, "poll(0) served the waiting report");

    check(producer.wakeup(), "wakeup is accepted");
    std::optional<yk::Error> woken;
    auto took = time_of([&] { woken = error_of([&] { producer.poll(10s); }); });
    check(woken && woken->code() == YK_ERROR_WOKEN_UP && took < 1s, "a kept wakeup ends poll at once");
}

// A synchronous send waiting for a partition without a leader: a wakeup
// from another thread ends it with YK_ERROR_WOKEN_UP, and its message
// stays queued (docs/c-abi.md, "Wakeups").
void test_producer_wakeup_ends_a_sync_send()
{
    std::string topic = fresh_topic("cpp-leaderless", 1);
    yk::Producer producer(local_cluster());
    producer.send_messages(topic, {"with a leader"});
    std::string command = "\"" + env("YK_CLUSTER_SH") + "\" kafka 1 leader " + topic + " 0 -1 >/dev/null";
    if (std::system(command.c_str()) != 0)
        throw std::runtime_error("could not take the leader of " + topic + " away");
    std::thread waker([&] {
        std::this_thread::sleep_for(300ms);
        producer.wakeup();
    });
    std::optional<yk::Error> woken;
    auto took = time_of([&] { woken = error_of([&] { producer.send_messages(topic, {"without one"}); }); });
    waker.join();
    check(woken && woken->code() == YK_ERROR_WOKEN_UP && took >= 250ms && took < 400ms,
          "a wakeup from another thread ends a blocked send_messages, after " + std::to_string(took.count()) + " ms");
    check(producer.queue_length() == 1, "the woken send's message stays queued");
    check(producer.close(0ms) == 1, "close counts it as not delivered");
}

} // namespace

int main(int argc, char **argv)
{
    if (argc == 4 && std::string(argv[1]) == "--worker")
        return run_worker(argv[2], argv[3]);
    const std::pair<const char *, void (*)()> tests[] = {
        {"errors carry code, name and retriability", test_errors_carry_code_name_and_retriability},
        {"configuration: checks and dumps", test_configuration_checks_and_dumps},
        {"producer round trip with metrics", test_producer_round_trip_with_metrics},
        {"callbacks: exceptions and re-entrancy", test_callbacks_exceptions_and_reentrancy},
        {"discovery across two clusters", test_discovery_across_two_clusters},
        {"consumer group consumes what was produced", test_consumer_group_consumes_what_was_produced},
        {"producers move", test_producers_move},
        {"destroying a producer delivers what is queued", test_destroying_a_producer_delivers_what_is_queued},
        {"simple consumer: batches, headers, wakeup, ready_fd",
         test_simple_consumer_batches_headers_wakeup_and_ready_fd},
        {"plain consumer commits a message", test_plain_consumer_commits_a_message},
        {"offsets: watermarks, distance, set, advance, rewind", test_offsets_watermarks_distance_and_moves},
        {"topology from a file", test_topology_from_a_file},
        {"group: batches, wait_assignment, wakeup", test_group_batches_wait_assignment_and_wakeup},
        {"callback group", test_callback_group},
        {"multiprocessing group: thread workers", test_thread_workers},
        {"multiprocessing group: a failing thread worker restarts", test_failing_thread_worker_restarts},
        {"multiprocessing group: process workers", test_process_workers},
        {"producer: batched reports, wakeup, ready_fd", test_producer_batched_reports_wakeup_and_ready_fd},
        {"producer: a wakeup ends a sync send", test_producer_wakeup_ends_a_sync_send},
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
