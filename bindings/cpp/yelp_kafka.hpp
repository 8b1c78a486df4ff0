// yelp_kafka.hpp: a header-only C++17 wrapper of the yelp_kafka C API
// (include/yelp_kafka.h) with RAII handles and exceptions.
//
// Every failure throws yelp_kafka::Error, which carries the library's code
// (its name is Python yelp_kafka's Python exception, e.g. "KafkaUnavailableError"),
// the broker's Kafka code and whether a plain retry may succeed. Handles
// free themselves and are movable (not copyable); Producer::close and
// ConsumerGroup::stop are the deadline-bound shutdowns to call before. A
// Producer destroyed without close() closes itself, bounded in time, and
// reports what it could not deliver (see Producer).
//
// Callbacks (delivery reports, rebalances, metrics) run on the thread that
// makes the call that serves them, never on a library thread. One that calls
// back into its own handle gets YK_ERROR_REENTRANT (thrown as an Error). An
// exception thrown by a callback never crosses the C library: it is kept
// and rethrown from the wrapper call that ran the callback.
#ifndef YELP_KAFKA_HPP
#define YELP_KAFKA_HPP

#include <yelp_kafka.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace yelp_kafka {

/// A failure reported by the library.
class Error : public std::runtime_error {
public:
    Error(yk_error code, std::string message, int16_t kafka_code, bool retriable)
        : std::runtime_error(std::string(yk_error_name(code)) + ": " + message), code_(code),
          kafka_code_(kafka_code), retriable_(retriable)
    {
    }

    /// The library's code.
    yk_error code() const noexcept { return code_; }
    /// The code's name: Python yelp_kafka's exception ("ConsumerTimeout") or the C condition.
    const char *name() const noexcept { return yk_error_name(code_); }
    /// The raw Kafka error code a broker sent, 0 when none.
    int16_t kafka_code() const noexcept { return kafka_code_; }
    /// Whether a plain retry may succeed (a leader moved, a broker was briefly away).
    bool retriable() const noexcept { return retriable_; }

    /// Throws the error the library just reported with `code` on this thread.
    static void check(yk_error code)
    {
        if (code != YK_ERROR_OK)
            throw Error(code, yk_last_error_message(), yk_last_error_kafka_code(), yk_last_error_is_retriable());
    }

private:
    yk_error code_;
    int16_t kafka_code_;
    bool retriable_;
};

/// Option names to values (client_id, acks, linger_ms, ...).
using Options = std::map<std::string, std::string>;
/// Topic name to its partition ids (sorted).
using TopicPartitions = std::map<std::string, std::vector<int32_t>>;
/// One partition of a topic.
using TopicPartition = std::pair<std::string, int32_t>;

namespace detail {

template <typename T, void (*Free)(T *)> struct Deleter {
    void operator()(T *handle) const noexcept { Free(handle); }
};
template <typename T, void (*Free)(T *)> using Handle = std::unique_ptr<T, Deleter<T, Free>>;

/// Milliseconds for C: negative durations mean "no limit" (-1).
inline int32_t milliseconds(std::chrono::milliseconds timeout)
{
    if (timeout.count() < 0)
        return -1;
    return timeout.count() > INT32_MAX ? INT32_MAX : static_cast<int32_t>(timeout.count());
}

/// Holds an exception thrown by a callback until the wrapper call that ran
/// the callback returns, and rethrows it there.
class CallbackErrors {
public:
    template <typename F> void run(F &&f) noexcept
    {
        try {
            f();
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!pending_)
                pending_ = std::current_exception();
        }
    }

    void rethrow()
    {
        std::exception_ptr pending;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            std::swap(pending, pending_);
        }
        if (pending)
            std::rethrow_exception(pending);
    }

private:
    std::mutex mutex_;
    std::exception_ptr pending_;
};

/// Runs a C call, rethrows a callback's exception, then throws its error.
template <typename F> void call(CallbackErrors &errors, F &&f)
{
    yk_error code = f();
    // Read the thread-local details before anything else can overwrite them.
    std::optional<Error> error;
    if (code != YK_ERROR_OK)
        error.emplace(code, yk_last_error_message(), yk_last_error_kafka_code(), yk_last_error_is_retriable());
    errors.rethrow();
    if (error)
        throw *error;
}

inline yk_bytes bytes(std::string_view s) { return {reinterpret_cast<const uint8_t *>(s.data()), s.size()}; }

inline std::vector<yk_bytes> bytes(const std::vector<std::string_view> &values)
{
    std::vector<yk_bytes> out;
    out.reserve(values.size());
    for (std::string_view v : values)
        out.push_back(bytes(v));
    return out;
}

} // namespace detail

/// A Kafka cluster (docs/configuration.md): type, name, brokers ("host:port,..."),
/// ZooKeeper connect string with optional chroot (empty to only produce).
class ClusterConfig {
public:
    ClusterConfig(const std::string &type, const std::string &name, const std::string &broker_list,
                  const std::string &zookeeper = "")
    {
        yk_cluster_config *out = nullptr;
        Error::check(yk_cluster_config_new(type.c_str(), name.c_str(), broker_list.c_str(), zookeeper.c_str(), &out));
        handle_.reset(out);
    }

    /// A copy of a configuration the library owns.
    static ClusterConfig copy_of(const yk_cluster_config *config)
    {
        yk_cluster_config *out = nullptr;
        Error::check(yk_cluster_config_clone(config, &out));
        return ClusterConfig(out);
    }

    ClusterConfig(const ClusterConfig &other) : ClusterConfig(copy_of(other.get())) {}
    ClusterConfig &operator=(const ClusterConfig &other)
    {
        if (this != &other)
            handle_ = std::move(copy_of(other.get()).handle_);
        return *this;
    }
    ClusterConfig(ClusterConfig &&) noexcept = default;
    ClusterConfig &operator=(ClusterConfig &&) noexcept = default;

    std::string type() const { return yk_cluster_config_type(get()); }
    std::string name() const { return yk_cluster_config_name(get()); }
    /// The brokers, comma-separated, empty entries removed.
    std::string broker_list() const { return yk_cluster_config_broker_list(get()); }
    std::string zookeeper() const { return yk_cluster_config_zookeeper(get()); }

    /// Same type and name, the same brokers and ZooKeeper hosts in any order, the same chroot.
    bool operator==(const ClusterConfig &other) const { return yk_cluster_config_equal(get(), other.get()); }
    bool operator!=(const ClusterConfig &other) const { return !(*this == other); }

    const yk_cluster_config *get() const noexcept { return handle_.get(); }

private:
    explicit ClusterConfig(yk_cluster_config *owned) : handle_(owned) {}
    detail::Handle<yk_cluster_config, yk_cluster_config_free> handle_;
};

namespace detail {

using ConfigHandle = Handle<yk_config, yk_config_free>;

/// A yk_config with `options`; NULL (the defaults) when there are none.
inline ConfigHandle config(const Options &options)
{
    if (options.empty())
        return nullptr;
    yk_config *out = nullptr;
    Error::check(yk_config_new(&out));
    ConfigHandle handle(out);
    for (const auto &[key, value] : options)
        Error::check(yk_config_set(handle.get(), key.c_str(), value.c_str()));
    return handle;
}

/// A discovery result copied out: clusters with their topics.
inline std::vector<std::pair<ClusterConfig, TopicPartitions>> read(yk_discovery_result *raw)
{
    Handle<yk_discovery_result, yk_discovery_result_free> result(raw);
    std::vector<std::pair<ClusterConfig, TopicPartitions>> out;
    for (size_t c = 0; c < yk_discovery_result_cluster_count(raw); c++) {
        TopicPartitions topics;
        for (size_t t = 0; t < yk_discovery_result_topic_count(raw, c); t++) {
            size_t count = 0;
            const int32_t *ids = yk_discovery_result_partitions(raw, c, t, &count);
            topics[yk_discovery_result_topic(raw, c, t)] = std::vector<int32_t>(ids, ids + count);
        }
        out.emplace_back(ClusterConfig::copy_of(yk_discovery_result_cluster(raw, c)), std::move(topics));
    }
    return out;
}

inline std::vector<const yk_cluster_config *> handles(const std::vector<ClusterConfig> &clusters)
{
    std::vector<const yk_cluster_config *> out;
    for (const ClusterConfig &c : clusters)
        out.push_back(c.get());
    return out;
}

} // namespace detail

/// Every topic of `cluster` with its partitions (Python yelp_kafka's discover_topics).
inline TopicPartitions discover_topics(const ClusterConfig &cluster, const Options &options = {})
{
    yk_discovery_result *out = nullptr;
    Error::check(yk_discover_topics(cluster.get(), detail::config(options).get(), &out));
    return detail::read(out).at(0).second;
}

/// The clusters that have `topic` (Python yelp_kafka's search_topic).
inline std::vector<std::pair<ClusterConfig, TopicPartitions>>
search_topic(const std::string &topic, const std::vector<ClusterConfig> &clusters, const Options &options = {})
{
    auto list = detail::handles(clusters);
    yk_discovery_result *out = nullptr;
    Error::check(yk_search_topic(topic.c_str(), list.data(), list.size(), detail::config(options).get(), &out));
    return detail::read(out);
}

/// For each cluster with topics whose names match `pattern` at their start
/// (Python's re.match), the cluster and those topics (Python yelp_kafka's
/// search_topics_by_regex).
inline std::vector<std::pair<ClusterConfig, TopicPartitions>>
search_topics_by_regex(const std::string &pattern, const std::vector<ClusterConfig> &clusters,
                       const Options &options = {})
{
    auto list = detail::handles(clusters);
    yk_discovery_result *out = nullptr;
    Error::check(
        yk_search_topics_by_regex(pattern.c_str(), list.data(), list.size(), detail::config(options).get(), &out));
    return detail::read(out);
}

/// One metric's emitter: the library records every measurement of that
/// metric through it (milliseconds for timers, increments for counters).
class Emitter {
public:
    virtual ~Emitter() = default;
    virtual void record(double value, std::chrono::system_clock::time_point timestamp) = 0;
};

/// The metrics responder (docs/metrics.md): makes one Emitter per metric when a
/// handle is created; the handle destroys them when it is destroyed. Must
/// outlive the handles it is given to. Its calls run on threads that call
/// into the library, one handle's at a time.
class MetricsResponder {
public:
    using Dimensions = std::map<std::string, std::string>;
    virtual ~MetricsResponder() = default;
    virtual std::unique_ptr<Emitter> counter_emitter(const std::string &metric, const Dimensions &dimensions) = 0;
    virtual std::unique_ptr<Emitter> timer_emitter(const std::string &metric, const Dimensions &dimensions) = 0;
};

namespace detail {

/// The C responder of one handle: passes calls to `responder`, keeping
/// exceptions for `errors`. Lives as long as the handle.
struct MetricsBridge {
    MetricsResponder *responder;
    CallbackErrors *errors;

    static void *emitter(void *opaque, const char *metric, const yk_dimension *dimensions, size_t count, bool timer)
    {
        auto *bridge = static_cast<MetricsBridge *>(opaque);
        Emitter *made = nullptr;
        bridge->errors->run([&] {
            MetricsResponder::Dimensions dims;
            for (size_t i = 0; i < count; i++)
                dims[dimensions[i].key] = dimensions[i].value;
            made = (timer ? bridge->responder->timer_emitter(metric, dims)
                          : bridge->responder->counter_emitter(metric, dims))
                       .release();
        });
        return made;
    }

    yk_metrics_responder table()
    {
        return {this,
                [](void *o, const char *m, const yk_dimension *d, size_t n) { return emitter(o, m, d, n, false); },
                [](void *o, const char *m, const yk_dimension *d, size_t n) { return emitter(o, m, d, n, true); },
                [](void *o, void *e, double value, int64_t timestamp_ms) {
                    if (e == nullptr)
                        return;
                    static_cast<MetricsBridge *>(o)->errors->run([&] {
                        static_cast<Emitter *>(e)->record(
                            value, std::chrono::system_clock::time_point(std::chrono::milliseconds(timestamp_ms)));
                    });
                },
                [](void *, void *e) { delete static_cast<Emitter *>(e); }};
    }
};

} // namespace detail

/// What became of one message given to Producer::produce.
struct DeliveryReport {
    std::string topic;
    int32_t partition;
    /// −1 when unknown (acks=0) or on failure.
    int64_t offset;
    /// The `opaque` given to produce.
    void *opaque;
    /// Empty when the broker acknowledged the message.
    std::optional<Error> error;
};

namespace detail {

/// Thrown by a handle whose state was moved to another.
[[noreturn]] inline void moved_from(const char *what)
{
    throw Error(YK_ERROR_WRONG_STATE, std::string("this ") + what + " was moved from", 0, false);
}

} // namespace detail

/// A producer (Python yelp_kafka's simple and keyed producers, plus an asynchronous
/// batching path). Usable from several threads at once. Movable: its
/// callbacks refer to state on the heap, which a move hands over; a
/// moved-from Producer throws YK_ERROR_WRONG_STATE.
///
/// Destroying a Producer that was not closed closes it first, waiting up to
/// `close_on_destroy` (10 s unless set): what is still queued then is
/// delivered or fails, and every report, failures included, goes to the
/// `on_delivery` function. Without one, a destructor that leaves messages
/// undelivered says how many on stderr; it never drops them silently.
class Producer {
public:
    static constexpr int32_t any_partition = -1;

    /// `options` take the client and producer options of yk_producer_new;
    /// `metrics` (may be null) must outlive the producer.
    explicit Producer(const ClusterConfig &cluster, const Options &options = {}, MetricsResponder *metrics = nullptr)
        : state_(std::make_unique<State>(metrics))
    {
        yk_metrics_responder table = state_->bridge.table();
        yk_producer *out = nullptr;
        detail::call(state_->errors, [&] {
            return yk_producer_new(cluster.get(), detail::config(options).get(), metrics ? &table : nullptr, &out);
        });
        state_->handle.reset(out);
        Error::check(yk_producer_set_delivery_callback(out, &State::deliver, state_.get()));
    }

    Producer(const Producer &) = delete;
    Producer &operator=(const Producer &) = delete;
    Producer(Producer &&) noexcept = default;
    Producer &operator=(Producer &&other) noexcept
    {
        if (this != &other) {
            close_on_destroy();
            state_ = std::move(other.state_);
        }
        return *this;
    }
    ~Producer() { close_on_destroy(); }

    /// Sets the function that receives delivery reports, on the thread that
    /// calls poll, flush or close (the destructor's close included).
    void on_delivery(std::function<void(const DeliveryReport &)> callback)
    {
        State &s = state();
        std::lock_guard<std::mutex> lock(s.mutex);
        s.on_delivery = std::move(callback);
    }

    /// How long the destructor of a producer not closed waits for what is
    /// queued (see the class comment).
    void set_close_on_destroy(std::chrono::milliseconds timeout) { state().close_on_destroy = timeout; }

    /// Sends `values` (no key), round-robin, and returns their offsets once acknowledged.
    std::vector<int64_t> send_messages(const std::string &topic, const std::vector<std::string_view> &values)
    {
        State &s = state();
        auto buffers = detail::bytes(values);
        std::vector<int64_t> offsets(values.size());
        detail::call(s.errors, [&] {
            return yk_producer_send_messages(s.handle.get(), topic.c_str(), buffers.data(), buffers.size(),
                                             offsets.data());
        });
        return offsets;
    }

    /// Sends `values` with `key` to the partition murmur2 of the key picks.
    std::vector<int64_t> send_keyed_messages(const std::string &topic, std::string_view key,
                                             const std::vector<std::string_view> &values)
    {
        State &s = state();
        auto buffers = detail::bytes(values);
        std::vector<int64_t> offsets(values.size());
        detail::call(s.errors, [&] {
            return yk_producer_send_keyed_messages(s.handle.get(), topic.c_str(), detail::bytes(key).data, key.size(),
                                                   buffers.data(), buffers.size(), offsets.data());
        });
        return offsets;
    }

    /// Queues one message (no key or null value when empty optionals); its
    /// report comes with `opaque`. A negative `queue_wait` waits for room.
    void produce(const std::string &topic, std::optional<std::string_view> value,
                 std::optional<std::string_view> key = std::nullopt, int32_t partition = any_partition,
                 void *opaque = nullptr, std::chrono::milliseconds queue_wait = std::chrono::milliseconds(-1))
    {
        State &s = state();
        yk_bytes k = key ? detail::bytes(*key) : yk_bytes{nullptr, 0};
        yk_bytes v = value ? detail::bytes(*value) : yk_bytes{nullptr, 0};
        detail::call(s.errors, [&] {
            return yk_producer_produce(s.handle.get(), topic.c_str(), partition, k.data, k.len, v.data, v.len, opaque,
                                       detail::milliseconds(queue_wait));
        });
    }

    /// Serves delivery reports, waiting up to `timeout` for the first; returns how many.
    size_t poll(std::chrono::milliseconds timeout)
    {
        State &s = state();
        size_t served = 0;
        detail::call(s.errors, [&] { return yk_producer_poll(s.handle.get(), detail::milliseconds(timeout), &served); });
        return served;
    }

    /// Waits up to `timeout` until everything queued is delivered or failed.
    void flush(std::chrono::milliseconds timeout)
    {
        State &s = state();
        detail::call(s.errors, [&] { return yk_producer_flush(s.handle.get(), detail::milliseconds(timeout)); });
    }

    /// Flushes for up to `timeout`, then fails what is left; returns how
    /// many messages were not delivered (no exception for that).
    size_t close(std::chrono::milliseconds timeout) { return state().close(timeout); }

    size_t queue_length() const { return yk_producer_queue_length(get()); }

    /// The C handle; null once moved from.
    yk_producer *get() const noexcept { return state_ ? state_->handle.get() : nullptr; }

private:
    /// Everything the C callbacks point at, at one address for the
    /// producer's life whatever moves the Producer.
    struct State {
        explicit State(MetricsResponder *metrics) : bridge{metrics, &errors} {}

        size_t close(std::chrono::milliseconds timeout)
        {
            size_t undelivered = 0;
            try {
                detail::call(errors,
                             [&] { return yk_producer_close(handle.get(), detail::milliseconds(timeout), &undelivered); });
            } catch (const Error &e) {
                if (e.code() != YK_ERROR_TIMED_OUT)
                    throw;
            }
            closed = true;
            return undelivered;
        }

        static void deliver(void *opaque, const yk_delivery_report *report)
        {
            auto *self = static_cast<State *>(opaque);
            self->errors.run([&] {
                std::function<void(const DeliveryReport &)> callback;
                {
                    std::lock_guard<std::mutex> lock(self->mutex);
                    callback = self->on_delivery;
                }
                if (!callback)
                    return;
                DeliveryReport r{report->topic, report->partition, report->offset, report->message_opaque,
                                 std::nullopt};
                if (report->error != YK_ERROR_OK)
                    r.error.emplace(report->error, report->error_message ? report->error_message : "",
                                    report->kafka_code, yk_error_is_retriable(report->error));
                callback(r);
            });
        }

        // Declared before the handle: the handle's destructor still calls into them.
        detail::CallbackErrors errors;
        detail::MetricsBridge bridge;
        std::mutex mutex;
        std::function<void(const DeliveryReport &)> on_delivery;
        std::chrono::milliseconds close_on_destroy{std::chrono::seconds(10)};
        bool closed = false;
        detail::Handle<yk_producer, yk_producer_free> handle;
    };

    State &state() const
    {
        if (!state_)
            detail::moved_from("Producer");
        return *state_;
    }

    /// The destructor's close (see the class comment); never throws.
    void close_on_destroy() noexcept
    {
        if (!state_ || state_->closed || !state_->handle)
            return;
        size_t undelivered = 0;
        try {
            undelivered = state_->close(state_->close_on_destroy);
        } catch (const std::exception &e) {
            std::fprintf(stderr, "yelp_kafka::Producer destroyed: closing it failed: %s\n", e.what());
            return;
        } catch (...) {
            std::fprintf(stderr, "yelp_kafka::Producer destroyed: a delivery callback threw while closing it\n");
            return;
        }
        bool reported;
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            reported = static_cast<bool>(state_->on_delivery);
        }
        if (undelivered > 0 && !reported)
            std::fprintf(stderr,
                         "yelp_kafka::Producer destroyed without close(): %zu message(s) not delivered and no "
                         "on_delivery function to report them to\n",
                         undelivered);
    }

    std::unique_ptr<State> state_;
};

/// A message taken from a consumer group. The views of `key()` and
/// `value()` live as long as the Message; on a temporary
/// (`group.next().value()`) they return owning strings instead.
class Message {
public:
    std::string topic() const { return yk_message_topic(get()); }
    int32_t partition() const { return yk_message_partition(get()); }
    int64_t offset() const { return yk_message_offset(get()); }
    /// When the message was produced (or appended), as its record batch says.
    std::chrono::system_clock::time_point timestamp() const
    {
        return std::chrono::system_clock::time_point(std::chrono::milliseconds(yk_message_timestamp(get())));
    }
    /// Empty when the key is null.
    std::optional<std::string_view> key() const & { return view(yk_message_key); }
    std::optional<std::string> key() && { return owned(yk_message_key); }
    /// Empty when the value is null.
    std::optional<std::string_view> value() const & { return view(yk_message_value); }
    std::optional<std::string> value() && { return owned(yk_message_value); }

    const yk_message *get() const noexcept { return handle_.get(); }

private:
    friend class ConsumerGroup;
    explicit Message(yk_message *owned) : handle_(owned) {}

    using Accessor = const uint8_t *(*)(const yk_message *, size_t *);

    std::optional<std::string_view> view(Accessor accessor) const
    {
        size_t len = 0;
        const uint8_t *data = accessor(get(), &len);
        if (data == nullptr)
            return std::nullopt;
        return std::string_view(reinterpret_cast<const char *>(data), len);
    }

    std::optional<std::string> owned(Accessor accessor) const
    {
        auto bytes = view(accessor);
        if (!bytes)
            return std::nullopt;
        return std::string(*bytes);
    }

    detail::Handle<yk_message, yk_message_free> handle_;
};

/// The configuration of a consumer group (Python yelp_kafka's KafkaConsumerConfig).
struct ConsumerConfig {
    std::string group_id;
    ClusterConfig cluster;
    /// auto_offset_reset, consumer_timeout_ms, partitioner_cooldown, ...
    Options options;
    /// Run before partitions are given up / after new ones are acquired.
    std::function<void(const std::vector<TopicPartition> &)> pre_rebalance;
    std::function<void(const std::vector<TopicPartition> &)> post_rebalance;
};

/// A member of a balanced consumer group (Python yelp_kafka's KafkaConsumerGroup).
/// Movable, as Producer is; a moved-from group throws YK_ERROR_WRONG_STATE.
/// Destroying it without stop() leaves the group without a commit: what
/// was marked done since the last commit is read again by the partition's
/// next owner (nothing is lost).
class ConsumerGroup {
public:
    ConsumerGroup(const std::vector<std::string> &topics, ConsumerConfig config, MetricsResponder *metrics = nullptr)
        : state_(std::make_unique<State>(std::move(config), metrics))
    {
        State &s = *state_;
        yk_consumer_config *raw = nullptr;
        Error::check(yk_consumer_config_new(s.config.group_id.c_str(), s.config.cluster.get(), &raw));
        detail::Handle<yk_consumer_config, yk_consumer_config_free> cconfig(raw);
        for (const auto &[key, value] : s.config.options)
            Error::check(yk_consumer_config_set(raw, key.c_str(), value.c_str()));
        Error::check(yk_consumer_config_set_rebalance_callbacks(raw, &State::pre, &State::post, &s));
        std::vector<const char *> names;
        for (const std::string &t : topics)
            names.push_back(t.c_str());
        yk_metrics_responder table = s.bridge.table();
        yk_consumer_group *out = nullptr;
        detail::call(s.errors, [&] {
            return yk_consumer_group_new(names.data(), names.size(), raw, metrics ? &table : nullptr, &out);
        });
        s.handle.reset(out);
    }

    ConsumerGroup(const ConsumerGroup &) = delete;
    ConsumerGroup &operator=(const ConsumerGroup &) = delete;
    ConsumerGroup(ConsumerGroup &&) noexcept = default;
    ConsumerGroup &operator=(ConsumerGroup &&) noexcept = default;

    /// Joins the group and waits up to `timeout` for the first allocation;
    /// false when still allocating then (the group goes on).
    bool start(std::chrono::milliseconds timeout)
    {
        State &s = state();
        try {
            detail::call(s.errors,
                         [&] { return yk_consumer_group_start(s.handle.get(), detail::milliseconds(timeout)); });
        } catch (const Error &e) {
            if (e.code() != YK_ERROR_TIMED_OUT)
                throw;
            return false;
        }
        return true;
    }

    /// The next message; an Error with YK_ERROR_CONSUMER_TIMEOUT after consumer_timeout_ms.
    Message next()
    {
        State &s = state();
        yk_message *out = nullptr;
        detail::call(s.errors, [&] { return yk_consumer_group_next(s.handle.get(), &out); });
        return Message(out);
    }

    /// Marks `message` processed; commits never pass an unmarked message.
    void task_done(const Message &message)
    {
        State &s = state();
        detail::call(s.errors, [&] { return yk_consumer_group_task_done(s.handle.get(), message.get()); });
    }

    void commit()
    {
        State &s = state();
        detail::call(s.errors, [&] { return yk_consumer_group_commit(s.handle.get()); });
    }

    /// Leaves the group within `timeout`, committing with auto-commit.
    void stop(std::chrono::milliseconds timeout)
    {
        State &s = state();
        detail::call(s.errors, [&] { return yk_consumer_group_stop(s.handle.get(), detail::milliseconds(timeout)); });
    }

    std::string identifier() const { return yk_consumer_group_identifier(state().handle.get()); }

    /// The C handle; null once moved from.
    yk_consumer_group *get() const noexcept { return state_ ? state_->handle.get() : nullptr; }

private:
    /// Everything the C callbacks point at, at one address for the group's
    /// life whatever moves the ConsumerGroup.
    struct State {
        State(ConsumerConfig c, MetricsResponder *metrics) : config(std::move(c)), bridge{metrics, &errors} {}

        static void rebalance(void *opaque, const yk_topic_partition *partitions, size_t count, bool after)
        {
            auto *self = static_cast<State *>(opaque);
            const auto &callback = after ? self->config.post_rebalance : self->config.pre_rebalance;
            if (!callback)
                return;
            self->errors.run([&] {
                std::vector<TopicPartition> list;
                for (size_t i = 0; i < count; i++)
                    list.emplace_back(partitions[i].topic, partitions[i].partition);
                callback(list);
            });
        }
        static void pre(void *o, const yk_topic_partition *p, size_t n) { rebalance(o, p, n, false); }
        static void post(void *o, const yk_topic_partition *p, size_t n) { rebalance(o, p, n, true); }

        ConsumerConfig config;
        // Declared before the handle: the handle's destructor still calls into them.
        detail::CallbackErrors errors;
        detail::MetricsBridge bridge;
        detail::Handle<yk_consumer_group, yk_consumer_group_free> handle;
    };

    State &state() const
    {
        if (!state_)
            detail::moved_from("ConsumerGroup");
        return *state_;
    }

    std::unique_ptr<State> state_;
};

} // namespace yelp_kafka

#endif // YELP_KAFKA_HPP
