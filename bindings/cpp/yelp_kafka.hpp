// yelp_kafka.hpp: a header-only C++17 wrapper of the yelp_kafka C API
// (include/yelp_kafka.h) with RAII handles and exceptions.
//
// Every failure throws yelp_kafka::Error, which carries the library's code
// (its name is Python yelp_kafka's Python exception, e.g. "KafkaUnavailableError"),
// the broker's Kafka code and whether a plain retry may succeed. Handles
// free themselves and are movable (not copyable); their close and stop
// calls are the deadline-bound shutdowns to call before. A destructor never
// drops queued messages silently: a Producer not closed closes itself,
// bounded in time, and reports what it could not deliver; a Consumer
// closes (committing with auto_commit_enable); a ConsumerGroup not stopped
// commits nothing, so the partition's next owner reads again what was not
// committed; CallbackGroup and MultiprocessingGroup stop, committing, and
// wait for their run/start. Each class comment says more.
//
// Callbacks (delivery reports, rebalances, metrics, the callback group's
// process function) run on the thread that makes the call that serves
// them, never on a library thread; the one exception is ThreadWorker, whose
// calls run on the multiprocessing group's worker threads (docs/c-abi.md).
// One that calls
// back into its own handle gets YK_ERROR_REENTRANT (thrown as an Error). An
// exception thrown by a callback never crosses the C library: it is kept
// and rethrown from the wrapper call that ran the callback.
#ifndef YELP_KAFKA_HPP
#define YELP_KAFKA_HPP

#include <yelp_kafka.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <iterator>
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
    /// What the code means, in a sentence.
    const char *description() const noexcept { return yk_error_description(code_); }
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

/// The library's version ("0.1.0").
inline std::string version() { return yk_version(); }

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

/// A yk_config with `options`, empty ones included.
inline ConfigHandle filled_config(const Options &options)
{
    yk_config *out = nullptr;
    Error::check(yk_config_new(&out));
    ConfigHandle handle(out);
    for (const auto &[key, value] : options)
        Error::check(yk_config_set(handle.get(), key.c_str(), value.c_str()));
    return handle;
}

/// A yk_config with `options`; NULL (the defaults) when there are none.
inline ConfigHandle config(const Options &options) { return options.empty() ? nullptr : filled_config(options); }

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

/// Throws YK_ERROR_CONFIGURATION naming the first unknown key or bad value
/// among client options (client_id, timeouts, api_version_caps, ...).
inline void validate_client_options(const Options &options)
{
    Error::check(yk_config_validate_client(detail::filled_config(options).get()));
}

/// The effective client configuration with `options`, one `key = value`
/// line per option, defaults marked `(default)`.
inline std::string client_options_dump(const Options &options)
{
    detail::ConfigHandle handle = detail::filled_config(options);
    return yk_config_dump_client(handle.get());
}

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

/// A record header as the library lends it: views into the message (or
/// batch) it came from. A null value is an empty optional.
struct HeaderView {
    std::string_view name;
    std::optional<std::string_view> value;
};

/// A record header with its own bytes.
struct Header {
    std::string name;
    std::optional<std::string> value;
};

namespace detail {

inline std::optional<std::string_view> bytes_view(const uint8_t *data, size_t len)
{
    if (data == nullptr)
        return std::nullopt;
    return std::string_view(reinterpret_cast<const char *>(data), len);
}

inline std::optional<std::string> owned(std::optional<std::string_view> bytes)
{
    if (!bytes)
        return std::nullopt;
    return std::string(*bytes);
}

inline std::vector<HeaderView> header_views(const yk_message_view &view)
{
    std::vector<HeaderView> out;
    out.reserve(view.header_count);
    for (size_t i = 0; i < view.header_count; i++) {
        const yk_header &h = view.headers[i];
        out.push_back({std::string_view(h.name, h.name_len), bytes_view(h.value, h.value_len)});
    }
    return out;
}

inline std::vector<yk_header> c_headers(const std::vector<HeaderView> &headers)
{
    std::vector<yk_header> out;
    out.reserve(headers.size());
    for (const HeaderView &h : headers) {
        yk_bytes value = h.value ? bytes(*h.value) : yk_bytes{nullptr, 0};
        out.push_back({h.name.data(), h.name.size(), value.data, value.len});
    }
    return out;
}

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
/// `on_delivery` (or `on_delivery_batch`) function. Without one, a destructor that leaves messages
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

    /// Sets the function that receives delivery reports one at a time, on
    /// the thread that calls poll, flush or close (the destructor's close
    /// included). Replaces an on_delivery_batch function.
    void on_delivery(std::function<void(const DeliveryReport &)> callback)
    {
        State &s = state();
        {
            std::lock_guard<std::mutex> lock(s.mutex);
            s.on_delivery = std::move(callback);
            s.on_delivery_batch = nullptr;
        }
        Error::check(yk_producer_set_delivery_callback(s.handle.get(), &State::deliver, &s));
    }

    /// Sets the function that receives every report one poll, flush or
    /// close served, in one call when it has served them (one crossing for
    /// many reports). Replaces an on_delivery function.
    void on_delivery_batch(std::function<void(const std::vector<DeliveryReport> &)> callback)
    {
        State &s = state();
        {
            std::lock_guard<std::mutex> lock(s.mutex);
            s.on_delivery_batch = std::move(callback);
            s.on_delivery = nullptr;
        }
        Error::check(yk_producer_set_delivery_batch_callback(s.handle.get(), &State::deliver_batch, &s));
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

    /// Queues one message with record headers, as produce does.
    void produce_with_headers(const std::string &topic, std::optional<std::string_view> value,
                              const std::vector<HeaderView> &headers,
                              std::optional<std::string_view> key = std::nullopt, int32_t partition = any_partition,
                              void *opaque = nullptr,
                              std::chrono::milliseconds queue_wait = std::chrono::milliseconds(-1))
    {
        State &s = state();
        yk_bytes k = key ? detail::bytes(*key) : yk_bytes{nullptr, 0};
        yk_bytes v = value ? detail::bytes(*value) : yk_bytes{nullptr, 0};
        auto h = detail::c_headers(headers);
        detail::call(s.errors, [&] {
            return yk_producer_produce_with_headers(s.handle.get(), topic.c_str(), partition, k.data, k.len, v.data,
                                                    v.len, h.data(), h.size(), opaque,
                                                    detail::milliseconds(queue_wait));
        });
    }

    /// Sends one message with record headers; returns its offset once acknowledged.
    int64_t send_with_headers(const std::string &topic, std::optional<std::string_view> value,
                              const std::vector<HeaderView> &headers,
                              std::optional<std::string_view> key = std::nullopt, int32_t partition = any_partition)
    {
        State &s = state();
        yk_bytes k = key ? detail::bytes(*key) : yk_bytes{nullptr, 0};
        yk_bytes v = value ? detail::bytes(*value) : yk_bytes{nullptr, 0};
        auto h = detail::c_headers(headers);
        int64_t offset = -1;
        detail::call(s.errors, [&] {
            return yk_producer_send_with_headers(s.handle.get(), topic.c_str(), partition, k.data, k.len, v.data,
                                                 v.len, h.data(), h.size(), &offset);
        });
        return offset;
    }

    /// Makes a blocked poll, flush or synchronous send (send_messages,
    /// send_keyed_messages, send_with_headers) throw YK_ERROR_WOKEN_UP at
    /// once (or the next one, when none is blocked). A woken send only
    /// stops waiting: the messages it queued stay queued and may still be
    /// delivered (docs/c-abi.md, "Wakeups"). Async-signal-safe: callable
    /// from any thread and a signal handler.
    bool wakeup() const noexcept { return yk_producer_wakeup(get()) == YK_ERROR_OK; }

    /// Readable while delivery reports wait (level-triggered): poll it,
    /// then poll(0ms) serves them all. Never read or close it; it lives as
    /// long as the producer.
    int ready_fd() const { return yk_producer_ready_fd(state().handle.get()); }

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

        static DeliveryReport copy(const yk_delivery_report &report)
        {
            DeliveryReport r{report.topic, report.partition, report.offset, report.message_opaque, std::nullopt};
            if (report.error != YK_ERROR_OK)
                r.error.emplace(report.error, report.error_message ? report.error_message : "", report.kafka_code,
                                yk_error_is_retriable(report.error));
            return r;
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
                if (callback)
                    callback(copy(*report));
            });
        }

        static void deliver_batch(void *opaque, const yk_delivery_report *reports, size_t count)
        {
            auto *self = static_cast<State *>(opaque);
            self->errors.run([&] {
                std::function<void(const std::vector<DeliveryReport> &)> callback;
                {
                    std::lock_guard<std::mutex> lock(self->mutex);
                    callback = self->on_delivery_batch;
                }
                if (!callback)
                    return;
                std::vector<DeliveryReport> copies;
                copies.reserve(count);
                for (size_t i = 0; i < count; i++)
                    copies.push_back(copy(reports[i]));
                callback(copies);
            });
        }

        bool reports_somewhere()
        {
            std::lock_guard<std::mutex> lock(mutex);
            return on_delivery || on_delivery_batch;
        }

        // Declared before the handle: the handle's destructor still calls into them.
        detail::CallbackErrors errors;
        detail::MetricsBridge bridge;
        std::mutex mutex;
        std::function<void(const DeliveryReport &)> on_delivery;
        std::function<void(const std::vector<DeliveryReport> &)> on_delivery_batch;
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
        if (undelivered > 0 && !state_->reports_somewhere())
            std::fprintf(stderr,
                         "yelp_kafka::Producer destroyed without close(): %zu message(s) not delivered and no "
                         "on_delivery function to report them to\n",
                         undelivered);
    }

    std::unique_ptr<State> state_;
};

/// Every field of a message the library lends: one taken into a
/// MessageBatch (valid until the batch is filled again or destroyed), one
/// passed to a process callback (valid during the call), or a Message's
/// (valid as long as it). A cheap value: a copy of the C view, whose
/// pointers point into the message. Copy what must outlive the lender.
class MessageView {
public:
    explicit MessageView(const yk_message_view &view) noexcept : view_(view) {}

    std::string_view topic() const noexcept { return view_.topic; }
    int32_t partition() const noexcept { return view_.partition; }
    int64_t offset() const noexcept { return view_.offset; }
    std::chrono::system_clock::time_point timestamp() const noexcept
    {
        return std::chrono::system_clock::time_point(std::chrono::milliseconds(view_.timestamp));
    }
    yk_timestamp_type timestamp_type() const noexcept { return view_.timestamp_type; }
    /// Empty when the key is null.
    std::optional<std::string_view> key() const noexcept { return detail::bytes_view(view_.key, view_.key_len); }
    /// Empty when the value is null (a tombstone).
    std::optional<std::string_view> value() const noexcept
    {
        return detail::bytes_view(view_.value, view_.value_len);
    }
    /// The headers in record order (a repeated name kept once, its last value).
    std::vector<HeaderView> headers() const { return detail::header_views(view_); }

    const yk_message *get() const noexcept { return view_.message; }

private:
    yk_message_view view_;
};

/// A message a Consumer or ConsumerGroup handed out, owned by the caller.
/// The views of `key()`, `value()` and `headers()` live as long as the
/// Message; on a temporary (`group.next().value()`) they return owning
/// values instead.
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
    std::optional<std::string_view> key() const & { return view().key(); }
    std::optional<std::string> key() && { return detail::owned(view().key()); }
    /// Empty when the value is null.
    std::optional<std::string_view> value() const & { return view().value(); }
    std::optional<std::string> value() && { return detail::owned(view().value()); }
    std::vector<HeaderView> headers() const & { return view().headers(); }
    std::vector<Header> headers() &&
    {
        std::vector<Header> out;
        for (const HeaderView &h : view().headers())
            out.push_back({std::string(h.name), detail::owned(h.value)});
        return out;
    }

    /// Every field at once; valid as long as this Message (not on a temporary).
    MessageView view() const &
    {
        yk_message_view out;
        Error::check(yk_message_get_view(get(), &out));
        return MessageView(out);
    }
    MessageView view() && = delete;

    const yk_message *get() const noexcept { return handle_.get(); }

private:
    friend class Consumer;
    friend class ConsumerGroup;
    explicit Message(yk_message *owned) : handle_(owned) {}

    detail::Handle<yk_message, yk_message_free> handle_;
};

/// Marks `message` processed on whichever Consumer or ConsumerGroup handed
/// it out (yk_task_done): safe from any thread, and
/// YK_ERROR_CLOSED_HANDLE once that handle was closed, stopped or destroyed.
inline void task_done(const Message &message) { Error::check(yk_task_done(message.get())); }
inline void task_done(const MessageView &message) { Error::check(yk_task_done(message.get())); }

/// Room for up to `capacity` messages taken at once by
/// Consumer::next_batch or ConsumerGroup::next_batch, which release what
/// it held before. Its MessageViews live until it is filled again or
/// destroyed. Only a named batch can be filled or iterated: a temporary
/// one does not compile (`for (auto m : MessageBatch(8))`).
class MessageBatch {
public:
    explicit MessageBatch(size_t capacity)
    {
        yk_message_batch *out = nullptr;
        Error::check(yk_message_batch_new(capacity, &out));
        handle_.reset(out);
    }

    MessageBatch(const MessageBatch &) = delete;
    MessageBatch &operator=(const MessageBatch &) = delete;
    /// The views move with the batch; the moved-from batch is empty, and
    /// filling it throws (its C batch went with the move).
    MessageBatch(MessageBatch &&other) noexcept
        : handle_(std::move(other.handle_)), views_(std::exchange(other.views_, nullptr)),
          count_(std::exchange(other.count_, 0))
    {
    }
    MessageBatch &operator=(MessageBatch &&other) noexcept
    {
        handle_ = std::move(other.handle_);
        views_ = std::exchange(other.views_, nullptr);
        count_ = std::exchange(other.count_, 0);
        return *this;
    }

    class iterator {
    public:
        // Its operator* makes a MessageView, not a reference: an input iterator.
        using iterator_category = std::input_iterator_tag;
        using value_type = MessageView;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = MessageView;

        explicit iterator(const yk_message_view *at) : at_(at) {}
        MessageView operator*() const { return MessageView(*at_); }
        iterator &operator++()
        {
            ++at_;
            return *this;
        }
        iterator operator++(int) { return iterator(at_++); }
        bool operator==(const iterator &other) const { return at_ == other.at_; }
        bool operator!=(const iterator &other) const { return at_ != other.at_; }

    private:
        const yk_message_view *at_;
    };

    /// How many messages the last fill took (0 after a timeout).
    size_t size() const noexcept { return count_; }
    bool empty() const noexcept { return count_ == 0; }
    MessageView operator[](size_t i) const & { return MessageView(views_[i]); }
    MessageView operator[](size_t i) const && = delete;
    iterator begin() const & { return iterator(views_); }
    iterator begin() const && = delete;
    iterator end() const & { return iterator(views_ + count_); }
    iterator end() const && = delete;

    /// Marks every message of the last fill processed in one call
    /// (yk_message_batch_task_done), each on the consumer or group that
    /// handed it out; nothing after a timeout.
    void task_done() const { Error::check(yk_message_batch_task_done(handle_.get(), 0, count_)); }

    /// The last fill's fields, one vector each, entry i being message i's
    /// (yk_message_batch_columns); the topics point into the batch.
    struct Columns {
        std::vector<int64_t> offsets;
        std::vector<int32_t> partitions;
        std::vector<int64_t> timestamps;
        std::vector<std::string_view> topics;
    };
    Columns columns() const &
    {
        Columns out{std::vector<int64_t>(count_), std::vector<int32_t>(count_), std::vector<int64_t>(count_), {}};
        std::vector<const char *> topics(count_);
        yk_message_columns columns{out.offsets.data(), out.partitions.data(), out.timestamps.data(), topics.data()};
        Error::check(yk_message_batch_columns(handle_.get(), 0, count_, &columns));
        out.topics.assign(topics.begin(), topics.end());
        return out;
    }
    Columns columns() const && = delete;

    /// The last fill's values (or keys) back to back in one string, and
    /// each one's length in it, -1 for a null one.
    struct Packed {
        std::string bytes;
        std::vector<int64_t> lengths;
    };
    /// yk_message_batch_copy_values.
    Packed values() const { return packed(yk_message_batch_copy_values); }
    /// yk_message_batch_copy_keys.
    Packed keys() const { return packed(yk_message_batch_copy_keys); }

    yk_message_batch *get() const noexcept { return handle_.get(); }

private:
    friend class Consumer;
    friend class ConsumerGroup;

    /// Runs a fill; a timeout leaves the batch empty and is no error.
    template <typename F> size_t fill(detail::CallbackErrors &errors, F &&f)
    {
        count_ = 0;
        const yk_message_view *views = nullptr;
        size_t count = 0;
        try {
            detail::call(errors, [&] { return f(handle_.get(), &views, &count); });
        } catch (const Error &e) {
            if (e.code() != YK_ERROR_CONSUMER_TIMEOUT)
                throw;
            return 0;
        }
        views_ = views;
        count_ = count;
        return count;
    }

    /// Asks copy for the size, then copies into a string that big.
    template <typename Copy> Packed packed(Copy copy) const
    {
        Packed out{std::string(), std::vector<int64_t>(count_)};
        size_t size = 0;
        Error::check(copy(handle_.get(), 0, count_, out.lengths.data(), nullptr, 0, &size));
        out.bytes.resize(size);
        Error::check(copy(handle_.get(), 0, count_, out.lengths.data(), reinterpret_cast<uint8_t *>(out.bytes.data()),
                          out.bytes.size(), &size));
        return out;
    }

    detail::Handle<yk_message_batch, yk_message_batch_free> handle_;
    const yk_message_view *views_ = nullptr;
    size_t count_ = 0;
};

/// The configuration of a consumer, consumer group, callback group or
/// multiprocessing group (Python yelp_kafka's KafkaConsumerConfig). The
/// rebalance functions may be left out of a braced initializer.
struct ConsumerConfig {
    std::string group_id;
    ClusterConfig cluster;
    /// auto_offset_reset, consumer_timeout_ms, partitioner_cooldown, ...
    Options options;
    /// Groups only: run before partitions are given up / after new ones are
    /// acquired, on the thread that called into the group.
    std::function<void(const std::vector<TopicPartition> &)> pre_rebalance = nullptr;
    std::function<void(const std::vector<TopicPartition> &)> post_rebalance = nullptr;
};

namespace detail {

using ConsumerConfigHandle = Handle<yk_consumer_config, yk_consumer_config_free>;

inline ConsumerConfigHandle consumer_config(const ConsumerConfig &config)
{
    yk_consumer_config *raw = nullptr;
    Error::check(yk_consumer_config_new(config.group_id.c_str(), config.cluster.get(), &raw));
    ConsumerConfigHandle handle(raw);
    for (const auto &[key, value] : config.options)
        Error::check(yk_consumer_config_set(raw, key.c_str(), value.c_str()));
    return handle;
}

inline std::vector<const char *> names(const std::vector<std::string> &topics)
{
    std::vector<const char *> out;
    for (const std::string &t : topics)
        out.push_back(t.c_str());
    return out;
}

} // namespace detail

/// The effective configuration: group id, cluster and one `key = value`
/// line per option, defaults marked `(default)` (the rebalance functions
/// stay on the C++ side until a group is made, so it says none are set).
/// Throws YK_ERROR_CONFIGURATION for a bad option.
inline std::string consumer_config_dump(const ConsumerConfig &config)
{
    detail::ConsumerConfigHandle handle = detail::consumer_config(config);
    return yk_consumer_config_dump(handle.get());
}

namespace detail {

/// What every kind of group's C callbacks point at: the configuration
/// with its rebalance functions, the metrics bridge and the errors kept
/// for the caller.
struct GroupCallbacks {
    GroupCallbacks(ConsumerConfig c, MetricsResponder *metrics) : config(std::move(c)), bridge{metrics, &errors} {}

    /// The C configuration, with the rebalance callbacks pointing here.
    ConsumerConfigHandle c_config()
    {
        ConsumerConfigHandle handle = consumer_config(config);
        Error::check(yk_consumer_config_set_rebalance_callbacks(handle.get(), &pre, &post, this));
        return handle;
    }

    static void rebalance(void *opaque, const yk_topic_partition *partitions, size_t count, bool after)
    {
        auto *self = static_cast<GroupCallbacks *>(opaque);
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
    CallbackErrors errors;
    MetricsBridge bridge;
};

/// True for YK_ERROR_OK, false for YK_ERROR_TIMED_OUT (the work goes on
/// past the deadline); throws any other error.
inline bool within_deadline(yk_error code)
{
    if (code == YK_ERROR_TIMED_OUT)
        return false;
    Error::check(code);
    return true;
}

/// Writes `text` into a C error buffer of `size` bytes, NUL-terminated.
inline void write_error(const char *text, char *buffer, size_t size)
{
    if (buffer == nullptr || size == 0)
        return;
    std::snprintf(buffer, size, "%s", text);
}

/// Stops a blocking run/start that may still be going on another thread
/// and waits until it returned: freeing the C group before that is
/// undefined (yk_callback_group_free, yk_multiprocessing_group_free).
template <typename Stop> void stop_until_returned(Stop &&stop) noexcept
{
    for (;;) {
        yk_error code = stop(1000);
        if (code != YK_ERROR_TIMED_OUT)
            return;
    }
}

} // namespace detail

/// A consumer without balancing: the simple consumer of chosen partitions
/// of one topic (Python yelp_kafka's KafkaSimpleConsumer), the plain
/// consumer of every partition of some topics, or a multiprocessing
/// group's process worker's consumer (for_worker). Reads with the group's
/// offsets; nothing connects before connect(). Movable; a moved-from
/// Consumer throws YK_ERROR_WRONG_STATE (wakeup() returns false).
///
/// Destroying a Consumer closes it, which with auto_commit_enable commits
/// what was marked done. Messages fetched but not handed out are not
/// committed, so the next reader gets them: nothing is dropped.
class Consumer {
public:
    /// The plain consumer of every partition of `topics`.
    Consumer(const ConsumerConfig &config, const std::vector<std::string> &topics)
        : state_(std::make_unique<State>())
    {
        auto c = detail::consumer_config(config);
        auto list = detail::names(topics);
        yk_consumer *out = nullptr;
        Error::check(yk_consumer_new(c.get(), list.data(), list.size(), &out));
        state_->handle.reset(out);
    }

    /// The simple consumer of `partitions` of `topic` (empty: every partition).
    static Consumer simple(const ConsumerConfig &config, const std::string &topic,
                           const std::vector<int32_t> &partitions = {})
    {
        auto c = detail::consumer_config(config);
        yk_consumer *out = nullptr;
        Error::check(yk_consumer_new_simple(c.get(), topic.c_str(), partitions.empty() ? nullptr : partitions.data(),
                                            partitions.size(), &out));
        return Consumer(out);
    }

    /// In a worker program a process-mode MultiprocessingGroup started:
    /// the consumer of its partition, from its YK_WORKER_* environment.
    static Consumer for_worker()
    {
        yk_consumer *out = nullptr;
        Error::check(yk_multiprocessing_worker_consumer(&out));
        return Consumer(out);
    }

    Consumer(const Consumer &) = delete;
    Consumer &operator=(const Consumer &) = delete;
    Consumer(Consumer &&) noexcept = default;
    Consumer &operator=(Consumer &&other) noexcept
    {
        if (this != &other) {
            close_on_destroy();
            state_ = std::move(other.state_);
        }
        return *this;
    }
    ~Consumer() { close_on_destroy(); }

    void connect() { Error::check(yk_consumer_connect(get_checked())); }

    /// The next message: one fetched already, or with `block` the first to
    /// arrive within `timeout` (negative: no limit); empty when none.
    std::optional<Message> get_message(bool block = true,
                                       std::chrono::milliseconds timeout = std::chrono::milliseconds(-1))
    {
        yk_message *out = nullptr;
        yk_error code = yk_consumer_get_message(get_checked(), block, detail::milliseconds(timeout), &out);
        if (code == YK_ERROR_CONSUMER_TIMEOUT)
            return std::nullopt;
        Error::check(code);
        return Message(out);
    }

    /// The next message within consumer_timeout_ms; an Error with
    /// YK_ERROR_CONSUMER_TIMEOUT when none came (Python's iteration).
    Message next()
    {
        yk_message *out = nullptr;
        Error::check(yk_consumer_next(get_checked(), &out));
        return Message(out);
    }

    /// Fills `batch`: the first message waited for up to `timeout` (0: only
    /// what is fetched already), then what else is fetched. Returns how
    /// many; 0 when none came.
    size_t next_batch(MessageBatch &batch, std::chrono::milliseconds timeout)
    {
        const yk_consumer *c = get_checked();
        return batch.fill(state_->errors, [&](yk_message_batch *b, const yk_message_view **v, size_t *n) {
            return yk_consumer_next_batch(c, detail::milliseconds(timeout), b, v, n);
        });
    }

    /// Marks a message of this consumer processed; commits never pass an unmarked one.
    void task_done(const Message &message) { Error::check(yk_consumer_task_done(get_checked(), message.get())); }
    void task_done(const MessageView &message) { Error::check(yk_consumer_task_done(get_checked(), message.get())); }

    void commit() { Error::check(yk_consumer_commit(get_checked())); }
    /// Commits `partitions` only.
    void commit(const std::vector<TopicPartition> &partitions)
    {
        std::vector<yk_topic_partition> list;
        for (const auto &[topic, partition] : partitions)
            list.push_back({topic.c_str(), partition});
        Error::check(yk_consumer_commit_partitions(get_checked(), list.data(), list.size()));
    }
    /// Marks everything up to `message` in its partition done and commits the partition.
    void commit_message(const Message &message)
    {
        Error::check(yk_consumer_commit_message(get_checked(), message.get()));
    }

    /// Makes a blocked get_message, next, next_batch or commit (every
    /// form) throw YK_ERROR_WOKEN_UP at once (or the next one, when none
    /// is blocked); a woken commit may still land (docs/c-abi.md,
    /// "Wakeups"). Async-signal-safe: callable from any thread and a
    /// signal handler.
    bool wakeup() const noexcept { return yk_consumer_wakeup(get()) == YK_ERROR_OK; }

    /// Readable while fetched messages wait (level-triggered): poll it,
    /// then next_batch with timeout 0 until it returns 0. Never read or
    /// close it; it lives as long as the consumer.
    int ready_fd() const { return yk_consumer_ready_fd(get_checked()); }

    /// Stops fetching and commits with auto_commit_enable; final.
    void close() { Error::check(yk_consumer_close(get_checked())); }

    /// The C handle; null once moved from.
    yk_consumer *get() const noexcept { return state_ ? state_->handle.get() : nullptr; }

private:
    struct State {
        detail::CallbackErrors errors;
        detail::Handle<yk_consumer, yk_consumer_free> handle;
    };

    explicit Consumer(yk_consumer *owned) : state_(std::make_unique<State>()) { state_->handle.reset(owned); }

    yk_consumer *get_checked() const
    {
        if (!state_)
            detail::moved_from("Consumer");
        return state_->handle.get();
    }

    /// The destructor's close (see the class comment); never throws.
    void close_on_destroy() noexcept
    {
        if (!state_ || !state_->handle)
            return;
        yk_error code = yk_consumer_close(state_->handle.get());
        if (code != YK_ERROR_OK && code != YK_ERROR_CLOSED_HANDLE)
            std::fprintf(stderr, "yelp_kafka::Consumer destroyed: closing it failed: %s: %s\n", yk_error_name(code),
                         yk_last_error_message());
    }

    std::unique_ptr<State> state_;
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
        auto c = s.c_config();
        auto list = detail::names(topics);
        yk_metrics_responder table = s.bridge.table();
        yk_consumer_group *out = nullptr;
        detail::call(s.errors, [&] {
            return yk_consumer_group_new(list.data(), list.size(), c.get(), metrics ? &table : nullptr, &out);
        });
        s.handle.reset(out);
    }

    ConsumerGroup(const ConsumerGroup &) = delete;
    ConsumerGroup &operator=(const ConsumerGroup &) = delete;
    ConsumerGroup(ConsumerGroup &&) noexcept = default;
    ConsumerGroup &operator=(ConsumerGroup &&) noexcept = default;

    /// Joins the group and waits up to `timeout` for the first allocation;
    /// false when still allocating then (the group goes on: see wait_assignment).
    bool start(std::chrono::milliseconds timeout)
    {
        State &s = state();
        return allocated(s, [&] { return yk_consumer_group_start(s.handle.get(), detail::milliseconds(timeout)); });
    }

    /// Waits up to `timeout` (negative: no limit) until the started group
    /// holds its allocation; false when it is still allocating.
    bool wait_assignment(std::chrono::milliseconds timeout)
    {
        State &s = state();
        return allocated(
            s, [&] { return yk_consumer_group_wait_assignment(s.handle.get(), detail::milliseconds(timeout)); });
    }

    /// The next message; an Error with YK_ERROR_CONSUMER_TIMEOUT after consumer_timeout_ms.
    Message next()
    {
        State &s = state();
        yk_message *out = nullptr;
        detail::call(s.errors, [&] { return yk_consumer_group_next(s.handle.get(), &out); });
        return Message(out);
    }

    /// Fills `batch`: the first message as next() takes it (rebalances and
    /// consumer_timeout_ms included), then what else is fetched. Returns
    /// how many; 0 after consumer_timeout_ms without one.
    size_t next_batch(MessageBatch &batch)
    {
        State &s = state();
        return batch.fill(s.errors, [&](yk_message_batch *b, const yk_message_view **v, size_t *n) {
            return yk_consumer_group_next_batch(s.handle.get(), b, v, n);
        });
    }

    /// Marks `message` processed; commits never pass an unmarked message.
    void task_done(const Message &message)
    {
        State &s = state();
        detail::call(s.errors, [&] { return yk_consumer_group_task_done(s.handle.get(), message.get()); });
    }
    void task_done(const MessageView &message)
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

    /// Makes a blocked next or next_batch throw YK_ERROR_WOKEN_UP (within
    /// 100 ms while allocating), or a blocked commit at once (it may still
    /// land: docs/c-abi.md, "Wakeups"), or the next one when none is
    /// blocked. Async-signal-safe: callable from any thread and a signal
    /// handler.
    bool wakeup() const noexcept { return yk_consumer_group_wakeup(get()) == YK_ERROR_OK; }

    /// Readable while fetched messages wait (level-triggered). A group
    /// rebalances only inside its calls: an event loop must also call
    /// next_batch every few hundred milliseconds while it stays quiet, with
    /// consumer_timeout_ms 0 (docs/c-abi.md).
    int ready_fd() const { return yk_consumer_group_ready_fd(state().handle.get()); }

    std::string identifier() const { return yk_consumer_group_identifier(state().handle.get()); }

    /// The C handle; null once moved from.
    yk_consumer_group *get() const noexcept { return state_ ? state_->handle.get() : nullptr; }

private:
    /// Everything the C callbacks point at, at one address for the group's
    /// life whatever moves the ConsumerGroup.
    struct State : detail::GroupCallbacks {
        using GroupCallbacks::GroupCallbacks;
        // Declared after the callbacks' state: its destructor still calls into them.
        detail::Handle<yk_consumer_group, yk_consumer_group_free> handle;
    };

    template <typename F> static bool allocated(State &s, F &&f)
    {
        try {
            detail::call(s.errors, f);
        } catch (const Error &e) {
            if (e.code() != YK_ERROR_TIMED_OUT)
                throw;
            return false;
        }
        return true;
    }

    State &state() const
    {
        if (!state_)
            detail::moved_from("ConsumerGroup");
        return *state_;
    }

    std::unique_ptr<State> state_;
};

/// A consumer group member that calls `process` for every message of its
/// partitions on the thread running run() (Python yelp_kafka's
/// callback-style group), marking each done when it returns. An exception
/// from `process` stops the group and comes out of run().
///
/// Movable, as ConsumerGroup is. Destroying it stops it and waits until a
/// run() on another thread returned (the C group may not be freed before);
/// stop commits what was processed, so nothing is lost.
class CallbackGroup {
public:
    using Process = std::function<void(const MessageView &)>;

    CallbackGroup(const std::vector<std::string> &topics, ConsumerConfig config, Process process,
                  MetricsResponder *metrics = nullptr)
        : state_(std::make_unique<State>(std::move(config), metrics, std::move(process)))
    {
        State &s = *state_;
        auto c = s.c_config();
        auto list = detail::names(topics);
        yk_metrics_responder table = s.bridge.table();
        yk_callback_group *out = nullptr;
        detail::call(s.errors, [&] {
            return yk_callback_group_new(list.data(), list.size(), c.get(), metrics ? &table : nullptr, &State::call,
                                         &s, &out);
        });
        s.handle.reset(out);
    }

    CallbackGroup(const CallbackGroup &) = delete;
    CallbackGroup &operator=(const CallbackGroup &) = delete;
    CallbackGroup(CallbackGroup &&) noexcept = default;
    CallbackGroup &operator=(CallbackGroup &&other) noexcept
    {
        if (this != &other) {
            stop_on_destroy();
            state_ = std::move(other.state_);
        }
        return *this;
    }
    ~CallbackGroup() { stop_on_destroy(); }

    /// Joins and processes until stop(), then commits and leaves. Once per group.
    void run()
    {
        State &s = state();
        detail::call(s.errors, [&] { return yk_callback_group_run(s.handle.get()); });
    }

    /// Asks run() to stop after the message in hand (from any thread, from
    /// `process` too) and waits up to `timeout`; false when it has not
    /// returned yet (it still stops).
    bool stop(std::chrono::milliseconds timeout)
    {
        return detail::within_deadline(
            yk_callback_group_stop(state().handle.get(), detail::milliseconds(timeout)));
    }

    yk_callback_group *get() const noexcept { return state_ ? state_->handle.get() : nullptr; }

private:
    struct State : detail::GroupCallbacks {
        State(ConsumerConfig c, MetricsResponder *metrics, Process p)
            : GroupCallbacks(std::move(c), metrics), process(std::move(p))
        {
        }

        static int32_t call(void *opaque, const yk_message *message, char *error, size_t error_size)
        {
            auto *self = static_cast<State *>(opaque);
            bool ok = false;
            self->errors.run([&] {
                yk_message_view view;
                Error::check(yk_message_get_view(message, &view));
                self->process(MessageView(view));
                ok = true;
            });
            if (!ok)
                detail::write_error("the C++ process function threw", error, error_size);
            return ok ? 0 : 1;
        }

        Process process;
        detail::Handle<yk_callback_group, yk_callback_group_free> handle;
    };

    State &state() const
    {
        if (!state_)
            detail::moved_from("CallbackGroup");
        return *state_;
    }

    void stop_on_destroy() noexcept
    {
        if (!state_ || !state_->handle)
            return;
        yk_callback_group *handle = state_->handle.get();
        detail::stop_until_returned([&](int32_t ms) { return yk_callback_group_stop(handle, ms); });
    }

    std::unique_ptr<State> state_;
};

/// The worker of one partition of a thread-mode MultiprocessingGroup.
/// Every call runs on that worker's thread, a library thread, and the
/// workers of several partitions run at once (docs/c-abi.md): what a
/// worker shares with other workers or the rest of the program must be
/// thread-safe. Destroyed on its thread when it ends (stopped, failed, or
/// its partition moved).
class ThreadWorker {
public:
    virtual ~ThreadWorker() = default;
    /// Processes one message (lent for the call; the group marks it done
    /// when this returns). An exception ends the worker, which is started
    /// again from the last commit.
    virtual void process(const MessageView &message) = 0;
};

/// What a live worker of a MultiprocessingGroup is.
struct WorkerInfo {
    std::string topic;
    int32_t partition;
    int64_t restarts;
    /// The worker process's id; 0 for a thread worker.
    int64_t pid;
};

/// A consumer group member that runs a worker per partition it holds
/// (Python yelp_kafka's MultiprocessingConsumerGroup): threads running
/// ThreadWorkers, or processes running a program that reads its partition
/// through Consumer::for_worker().
///
/// Movable. Destroying it stops it and waits until a start() on another
/// thread returned and every fenced thread worker finished; workers commit
/// what they processed when stopped, so nothing is lost.
class MultiprocessingGroup {
public:
    /// Makes the worker of `topic`/`partition`, on that worker's library
    /// thread; null (or an exception) gives up, and the group tries again later.
    using WorkerFactory = std::function<std::unique_ptr<ThreadWorker>(const std::string &topic, int32_t partition)>;

    /// Thread workers made by `factory`, which must be thread-safe.
    static MultiprocessingGroup threads(const std::vector<std::string> &topics, ConsumerConfig config,
                                        WorkerFactory factory)
    {
        auto state = std::make_unique<State>(std::move(config), std::move(factory));
        auto c = state->c_config();
        auto list = detail::names(topics);
        yk_worker_callbacks callbacks{state.get(), &State::initialize, &State::process, &State::dispose};
        yk_multiprocessing_group *out = nullptr;
        Error::check(yk_multiprocessing_group_new_threads(list.data(), list.size(), c.get(), &callbacks, &out));
        state->handle.reset(out);
        return MultiprocessingGroup(std::move(state));
    }

    /// A worker process per partition running `argv` (argv[0] the program).
    static MultiprocessingGroup processes(const std::vector<std::string> &topics, ConsumerConfig config,
                                          const std::vector<std::string> &argv)
    {
        auto state = std::make_unique<State>(std::move(config), nullptr);
        auto c = state->c_config();
        auto list = detail::names(topics);
        auto args = detail::names(argv);
        yk_multiprocessing_group *out = nullptr;
        Error::check(yk_multiprocessing_group_new_processes(list.data(), list.size(), c.get(), args.data(),
                                                            args.size(), &out));
        state->handle.reset(out);
        return MultiprocessingGroup(std::move(state));
    }

    MultiprocessingGroup(const MultiprocessingGroup &) = delete;
    MultiprocessingGroup &operator=(const MultiprocessingGroup &) = delete;
    MultiprocessingGroup(MultiprocessingGroup &&) noexcept = default;
    MultiprocessingGroup &operator=(MultiprocessingGroup &&other) noexcept
    {
        if (this != &other) {
            stop_on_destroy();
            state_ = std::move(other.state_);
        }
        return *this;
    }
    ~MultiprocessingGroup() { stop_on_destroy(); }

    /// Joins and runs the workers until stop() (blocks; once per group).
    /// YK_ERROR_WORKERS_RUNNING when a fenced thread worker still runs.
    void start()
    {
        State &s = state();
        detail::call(s.errors, [&] { return yk_multiprocessing_group_start(s.handle.get()); });
    }

    /// Asks start() to stop the workers and leave, from any thread, and
    /// waits up to `timeout`; false when it has not returned yet.
    bool stop(std::chrono::milliseconds timeout)
    {
        return detail::within_deadline(
            yk_multiprocessing_group_stop(state().handle.get(), detail::milliseconds(timeout)));
    }

    /// The live workers (Python yelp_kafka's get_consumers).
    std::vector<WorkerInfo> consumers() const
    {
        yk_worker_list *raw = nullptr;
        Error::check(yk_multiprocessing_group_consumers(state().handle.get(), &raw));
        detail::Handle<yk_worker_list, yk_worker_list_free> list(raw);
        std::vector<WorkerInfo> out;
        for (size_t i = 0; i < yk_worker_list_count(raw); i++)
            out.push_back({yk_worker_list_topic(raw, i), yk_worker_list_partition(raw, i),
                           yk_worker_list_restarts(raw, i), yk_worker_list_pid(raw, i)});
        return out;
    }

    yk_multiprocessing_group *get() const noexcept { return state_ ? state_->handle.get() : nullptr; }

private:
    struct State : detail::GroupCallbacks {
        State(ConsumerConfig c, WorkerFactory f) : GroupCallbacks(std::move(c), nullptr), factory(std::move(f)) {}

        static void *initialize(void *opaque, const char *topic, int32_t partition)
        {
            auto *self = static_cast<State *>(opaque);
            try {
                return self->factory(topic, partition).release();
            } catch (const std::exception &e) {
                // No caller to rethrow to on a library thread: say why the worker gave up.
                std::fprintf(stderr, "yelp_kafka: the worker of %s/%d was not made: %s\n", topic, partition,
                             e.what());
            } catch (...) {
                std::fprintf(stderr, "yelp_kafka: the worker of %s/%d was not made\n", topic, partition);
            }
            return nullptr;
        }

        static int32_t process(void *, void *worker, const yk_message *message, char *error, size_t error_size)
        {
            try {
                yk_message_view view;
                Error::check(yk_message_get_view(message, &view));
                static_cast<ThreadWorker *>(worker)->process(MessageView(view));
                return 0;
            } catch (const std::exception &e) {
                detail::write_error(e.what(), error, error_size);
            } catch (...) {
                detail::write_error("the C++ worker threw", error, error_size);
            }
            return 1;
        }

        static void dispose(void *, void *worker) { delete static_cast<ThreadWorker *>(worker); }

        WorkerFactory factory;
        detail::Handle<yk_multiprocessing_group, yk_multiprocessing_group_free> handle;
    };

    explicit MultiprocessingGroup(std::unique_ptr<State> state) : state_(std::move(state)) {}

    State &state() const
    {
        if (!state_)
            detail::moved_from("MultiprocessingGroup");
        return *state_;
    }

    void stop_on_destroy() noexcept
    {
        if (!state_ || !state_->handle)
            return;
        yk_multiprocessing_group *handle = state_->handle.get();
        detail::stop_until_returned([&](int32_t ms) { return yk_multiprocessing_group_stop(handle, ms); });
    }

    std::unique_ptr<State> state_;
};

/// One partition's offsets; a field the call does not report is -1.
struct PartitionOffsets {
    std::string topic;
    int32_t partition;
    /// The group's committed offset (0 when none), or what a call committed.
    int64_t committed;
    int64_t high_watermark;
    int64_t low_watermark;
    /// high_watermark - committed: messages the group has still to read.
    int64_t lag;
};

/// An offset to store for one partition (Offsets::set).
struct PartitionOffset {
    std::string topic;
    int32_t partition;
    /// The next offset the group will read.
    int64_t offset;
};

/// Offsets and lag of consumer groups on one cluster (Python yelp_kafka's
/// offsets module, docs/offsets.md). A topic selection is a TopicPartitions
/// map in which an empty partition list means every partition. Results are
/// sorted by topic and partition. `raise_on_error` false leaves unknown
/// topics and partitions out instead of throwing. Movable; no callbacks.
class Offsets {
public:
    /// `options`: the client options and offset_storage (zookeeper, kafka, dual).
    explicit Offsets(const ClusterConfig &cluster, const Options &options = {})
    {
        yk_offsets *out = nullptr;
        Error::check(yk_offsets_new(cluster.get(), detail::config(options).get(), &out));
        handle_.reset(out);
    }

    /// The committed offsets of `group` (get_current_consumer_offsets).
    std::vector<PartitionOffsets> current(const std::string &group, const TopicPartitions &topics,
                                          bool raise_on_error = true) const
    {
        auto selection = make_topics(topics);
        return read([&](yk_offsets_result **out) {
            return yk_offsets_current(get(), group.c_str(), selection.get(), raise_on_error, out);
        });
    }

    /// The high and low watermarks (get_topics_watermarks).
    std::vector<PartitionOffsets> watermarks(const TopicPartitions &topics, bool raise_on_error = true) const
    {
        auto selection = make_topics(topics);
        return read([&](yk_offsets_result **out) {
            return yk_offsets_watermarks(get(), selection.get(), raise_on_error, out);
        });
    }

    /// Moves `group` to the high watermarks; returns what was committed.
    std::vector<PartitionOffsets> advance(const std::string &group, const TopicPartitions &topics,
                                          bool raise_on_error = true)
    {
        auto selection = make_topics(topics);
        return read([&](yk_offsets_result **out) {
            return yk_offsets_advance(get(), group.c_str(), selection.get(), raise_on_error, out);
        });
    }

    /// Moves `group` to the low watermarks; returns what was committed.
    std::vector<PartitionOffsets> rewind(const std::string &group, const TopicPartitions &topics,
                                         bool raise_on_error = true)
    {
        auto selection = make_topics(topics);
        return read([&](yk_offsets_result **out) {
            return yk_offsets_rewind(get(), group.c_str(), selection.get(), raise_on_error, out);
        });
    }

    /// Commits `entries` as they are (set_consumer_offsets); returns what was committed.
    std::vector<PartitionOffsets> set(const std::string &group, const std::vector<PartitionOffset> &entries,
                                      bool raise_on_error = true)
    {
        std::vector<yk_topic_partition_offset> list;
        for (const PartitionOffset &e : entries)
            list.push_back({e.topic.c_str(), e.partition, e.offset});
        return read([&](yk_offsets_result **out) {
            return yk_offsets_set(get(), group.c_str(), list.data(), list.size(), raise_on_error, out);
        });
    }

    /// The lag of `group` in `partitions` of `topic` (empty: every partition).
    std::vector<PartitionOffsets> offset_distance(const std::string &group, const std::string &topic,
                                                  const std::vector<int32_t> &partitions = {}) const
    {
        return read([&](yk_offsets_result **out) {
            return yk_offsets_offset_distance(get(), group.c_str(), topic.c_str(),
                                              partitions.empty() ? nullptr : partitions.data(), partitions.size(),
                                              out);
        });
    }

    /// The lag of `group` in every partition `topics` names.
    std::vector<PartitionOffsets> topics_offset_distance(const std::string &group, const TopicPartitions &topics) const
    {
        auto selection = make_topics(topics);
        return read([&](yk_offsets_result **out) {
            return yk_offsets_topics_offset_distance(get(), group.c_str(), selection.get(), out);
        });
    }

    yk_offsets *get() const noexcept { return handle_.get(); }

private:
    using TopicsHandle = detail::Handle<yk_topics, yk_topics_free>;

    static TopicsHandle make_topics(const TopicPartitions &topics)
    {
        yk_topics *raw = nullptr;
        Error::check(yk_topics_new(&raw));
        TopicsHandle handle(raw);
        for (const auto &[topic, partitions] : topics) {
            if (partitions.empty())
                Error::check(yk_topics_add(raw, topic.c_str()));
            for (int32_t p : partitions)
                Error::check(yk_topics_add_partition(raw, topic.c_str(), p));
        }
        return handle;
    }

    template <typename F> static std::vector<PartitionOffsets> read(F &&f)
    {
        yk_offsets_result *raw = nullptr;
        Error::check(f(&raw));
        detail::Handle<yk_offsets_result, yk_offsets_result_free> result(raw);
        size_t count = 0;
        const yk_partition_offsets *rows = yk_offsets_result_rows(raw, &count);
        std::vector<PartitionOffsets> out;
        for (size_t i = 0; i < count; i++)
            out.push_back({rows[i].topic, rows[i].partition, rows[i].committed, rows[i].high_watermark,
                           rows[i].low_watermark, rows[i].lag});
        return out;
    }

    detail::Handle<yk_offsets, yk_offsets_free> handle_;
};

/// The clusters of one cluster type, from `<dir>/<cluster_type>.yaml`
/// (docs/discovery.md; Python yelp_kafka's discovery of clusters). Movable.
class Topology {
public:
    /// `dir` empty: /nail/etc/kafka_discovery, as the Python library.
    Topology(const std::string &cluster_type, const std::string &dir = "")
    {
        yk_topology *out = nullptr;
        Error::check(yk_topology_load(dir.empty() ? nullptr : dir.c_str(), cluster_type.c_str(), &out));
        handle_.reset(out);
    }

    /// Every cluster, sorted by name (get_all_clusters).
    std::vector<ClusterConfig> clusters() const
    {
        std::vector<ClusterConfig> out;
        for (size_t i = 0; i < yk_topology_cluster_count(get()); i++)
            out.push_back(ClusterConfig::copy_of(yk_topology_cluster(get(), i)));
        return out;
    }

    /// The cluster called `name` (get_cluster_by_name).
    ClusterConfig cluster(const std::string &name) const
    {
        yk_cluster_config *out = nullptr;
        Error::check(yk_topology_cluster_by_name(get(), name.c_str(), &out));
        detail::Handle<yk_cluster_config, yk_cluster_config_free> owned(out);
        return ClusterConfig::copy_of(out);
    }

    /// The cluster local_config names (get_local_cluster).
    ClusterConfig local_cluster() const
    {
        yk_cluster_config *out = nullptr;
        Error::check(yk_topology_local_cluster(get(), &out));
        detail::Handle<yk_cluster_config, yk_cluster_config_free> owned(out);
        return ClusterConfig::copy_of(out);
    }

    yk_topology *get() const noexcept { return handle_.get(); }

private:
    detail::Handle<yk_topology, yk_topology_free> handle_;
};

} // namespace yelp_kafka

#endif // YELP_KAFKA_HPP
