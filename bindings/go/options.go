package yelpkafka

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Ptr returns a pointer to v, for the option fields where the zero value
// is a setting of its own (Retries: 0, EnableIdempotence: false, ...) and
// nil leaves the library's default.
func Ptr[T any](v T) *T { return &v }

// ClientOptions are the options of every handle that talks to Kafka
// (docs/configuration.md, "Client options"). A zero field leaves the
// option at the library's default.
type ClientOptions struct {
	// ClientID is sent on every request; brokers enforce quotas by it.
	ClientID            string
	MetadataTimeout     time.Duration
	RequestTimeout      time.Duration
	ConnectTimeout      time.Duration
	ReconnectBackoff    time.Duration
	ReconnectBackoffMax time.Duration
	MaxResponseBytes    int
	// APIVersionCaps caps the version per API, "ListOffsets:3,Produce:7",
	// for brokers that mis-encode newer versions.
	APIVersionCaps string
}

// Acks is how many replicas acknowledge a message before it counts as delivered.
type Acks string

// The values of ProducerOptions.Acks (docs/producer.md).
const (
	AcksNone   Acks = "0"   // no response: offsets are −1 and every report succeeds
	AcksLeader Acks = "1"   // the leader (the default)
	AcksAll    Acks = "all" // every in-sync replica
)

// ProducerOptions is a typed form of the producer's Options (NewProducer,
// docs/producer.md): Options() converts it. A zero field, or a nil one,
// leaves the option at the library's default; durations are rounded up to
// whole milliseconds.
type ProducerOptions struct {
	ClientOptions
	Acks         Acks
	AckTimeout   time.Duration
	Retries      *int
	RetryBackoff time.Duration
	Linger       *time.Duration
	// BatchSizeBytes, QueueMaxMessages and QueueMaxBytes bound a batch and
	// the queue of messages produced and not yet delivered.
	BatchSizeBytes    int
	QueueMaxMessages  int
	QueueMaxBytes     int
	Compression       string // none, gzip, snappy, lz4, zstd
	EnableIdempotence *bool  // needs AcksAll
	ReportMetrics     *bool
	MessageMaxBytes   int
	// DeliveryTimeout fails a message not acknowledged this long after it
	// was produced.
	DeliveryTimeout      time.Duration
	MaxInFlightPerBroker int
	// Extra sets any other option by its library name; it wins over the
	// fields.
	Extra Options
}

// Options converts o to the library's options.
func (o ProducerOptions) Options() Options {
	b := optionBuilder{}
	b.client(o.ClientOptions)
	b.text("acks", string(o.Acks))
	b.milliseconds("ack_timeout_ms", o.AckTimeout)
	b.optionalInt("retries", o.Retries)
	b.milliseconds("retry_backoff_ms", o.RetryBackoff)
	if o.Linger != nil {
		b.set("linger_ms", formatMilliseconds(*o.Linger))
	}
	b.int("batch_size_bytes", o.BatchSizeBytes)
	b.int("queue_max_messages", o.QueueMaxMessages)
	b.int("queue_max_bytes", o.QueueMaxBytes)
	b.text("compression", o.Compression)
	b.optionalBool("enable_idempotence", o.EnableIdempotence)
	b.optionalBool("report_metrics", o.ReportMetrics)
	b.int("message_max_bytes", o.MessageMaxBytes)
	b.milliseconds("delivery_timeout_ms", o.DeliveryTimeout)
	b.int("max_in_flight_per_broker", o.MaxInFlightPerBroker)
	return b.with(o.Extra)
}

// OffsetReset is where a consumer starts without a valid committed offset.
type OffsetReset string

// The values of ConsumerOptions.AutoOffsetReset: Python yelp_kafka's
// smallest and largest, and librdkafka's names for them, earliest and
// latest, which Options() turns into the former.
const (
	OffsetResetSmallest OffsetReset = "smallest" // the oldest message kept
	OffsetResetLargest  OffsetReset = "largest"  // the next message written (the default)
	OffsetResetEarliest OffsetReset = "earliest" // smallest
	OffsetResetLatest   OffsetReset = "latest"   // largest
)

// ConsumerOptions is a typed form of ConsumerConfig.Options, Python
// yelp_kafka's KafkaConsumerConfig options (docs/configuration.md,
// "Consumer options"): Options() converts it. A zero field, or a nil one,
// leaves the option at the library's default; durations in milliseconds
// are rounded up.
type ConsumerOptions struct {
	ClientOptions
	AutoOffsetReset            OffsetReset
	AutoCommitEnable           *bool
	AutoCommitInterval         time.Duration
	AutoCommitIntervalMessages *int
	// ConsumerTimeout is how long Next waits before ErrConsumerTimeout;
	// negative waits for a message however long it takes.
	ConsumerTimeout      *time.Duration
	FetchMinBytes        int
	FetchWaitMax         time.Duration
	FetchMessageMaxBytes int
	// FetchMaxBytes bounds one fetch answer over all its partitions
	// (librdkafka's fetch.max.bytes; the library's default is 2 MiB).
	FetchMaxBytes int
	// QueuedMaxMessagesKbytes bounds the fetched messages a consumer keeps
	// ahead of the program, in KiB over all its partitions (librdkafka's
	// queued.max.messages.kbytes; the library's default is 65536).
	QueuedMaxMessagesKbytes int
	// PartitionerCooldown is how long the membership must stay unchanged
	// before allocation (the library's default is 30 s).
	PartitionerCooldown     *time.Duration
	UseGroupSha             *bool
	ZookeeperSessionTimeout time.Duration
	ZookeeperConnectTimeout time.Duration
	OffsetStorage           string // zookeeper, kafka or dual (docs/offsets.md)
	// MetricsDimensions are added to the group's metrics.
	MetricsDimensions map[string]string
	// Extra sets any other option by its library name; it wins over the
	// fields.
	Extra Options
}

// Options converts o to the library's options.
func (o ConsumerOptions) Options() Options {
	b := optionBuilder{}
	b.client(o.ClientOptions)
	switch o.AutoOffsetReset {
	case OffsetResetEarliest:
		b.set("auto_offset_reset", string(OffsetResetSmallest))
	case OffsetResetLatest:
		b.set("auto_offset_reset", string(OffsetResetLargest))
	default:
		b.text("auto_offset_reset", string(o.AutoOffsetReset))
	}
	b.optionalBool("auto_commit_enable", o.AutoCommitEnable)
	b.milliseconds("auto_commit_interval_ms", o.AutoCommitInterval)
	b.optionalInt("auto_commit_interval_messages", o.AutoCommitIntervalMessages)
	if o.ConsumerTimeout != nil {
		timeout := "-1"
		if *o.ConsumerTimeout >= 0 {
			timeout = formatMilliseconds(*o.ConsumerTimeout)
		}
		b.set("consumer_timeout_ms", timeout)
	}
	b.int("fetch_min_bytes", o.FetchMinBytes)
	b.milliseconds("fetch_wait_max_ms", o.FetchWaitMax)
	b.int("fetch_message_max_bytes", o.FetchMessageMaxBytes)
	b.int("fetch_max_bytes", o.FetchMaxBytes)
	b.int("queued_max_messages_kbytes", o.QueuedMaxMessagesKbytes)
	if o.PartitionerCooldown != nil {
		b.set("partitioner_cooldown", strconv.FormatFloat(o.PartitionerCooldown.Seconds(), 'f', -1, 64))
	}
	b.optionalBool("use_group_sha", o.UseGroupSha)
	b.milliseconds("zookeeper_session_timeout_ms", o.ZookeeperSessionTimeout)
	b.milliseconds("zookeeper_connect_timeout_ms", o.ZookeeperConnectTimeout)
	b.text("offset_storage", o.OffsetStorage)
	if len(o.MetricsDimensions) > 0 {
		pairs := make([]string, 0, len(o.MetricsDimensions))
		for name, value := range o.MetricsDimensions {
			pairs = append(pairs, name+"="+value)
		}
		sort.Strings(pairs)
		b.set("metrics_dimensions", strings.Join(pairs, ","))
	}
	return b.with(o.Extra)
}

// optionBuilder collects the options a typed struct sets.
type optionBuilder Options

func (b optionBuilder) set(key, value string) { b[key] = value }

func (b optionBuilder) client(o ClientOptions) {
	b.text("client_id", o.ClientID)
	b.milliseconds("metadata_timeout_ms", o.MetadataTimeout)
	b.milliseconds("request_timeout_ms", o.RequestTimeout)
	b.milliseconds("connect_timeout_ms", o.ConnectTimeout)
	b.milliseconds("reconnect_backoff_ms", o.ReconnectBackoff)
	b.milliseconds("reconnect_backoff_max_ms", o.ReconnectBackoffMax)
	b.int("max_response_bytes", o.MaxResponseBytes)
	b.text("api_version_caps", o.APIVersionCaps)
}

func (b optionBuilder) text(key, value string) {
	if value != "" {
		b[key] = value
	}
}

func (b optionBuilder) int(key string, value int) {
	if value != 0 {
		b[key] = strconv.Itoa(value)
	}
}

func (b optionBuilder) milliseconds(key string, value time.Duration) {
	if value != 0 {
		b[key] = formatMilliseconds(value)
	}
}

func (b optionBuilder) optionalInt(key string, value *int) {
	if value != nil {
		b[key] = strconv.Itoa(*value)
	}
}

func (b optionBuilder) optionalBool(key string, value *bool) {
	if value != nil {
		b[key] = strconv.FormatBool(*value)
	}
}

// with adds extra over the collected options.
func (b optionBuilder) with(extra Options) Options {
	for key, value := range extra {
		b[key] = value
	}
	return Options(b)
}

// formatMilliseconds is d in whole milliseconds, rounded up; a negative d
// passes through negative, for the library to refuse by the key's name.
func formatMilliseconds(d time.Duration) string {
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond > 0 {
		ms++
	}
	return strconv.FormatInt(ms, 10)
}
