# frozen_string_literal: true

module YelpKafka
  # Connects a Ruby metrics responder to one C handle. A metrics responder
  # (docs/metrics.md) is any object answering
  #   get_counter_emitter(metric, dimensions) -> emitter
  #   get_timer_emitter(metric, dimensions)   -> emitter
  #   record(emitter, value, timestamp)
  # where dimensions is a Hash of strings, an emitter is any object (asked
  # for once per metric when the handle is created), value is an increment
  # for counters and milliseconds for timers, and timestamp a Time. Its
  # methods run on the thread whose call produced the measurement and must
  # not call back into that handle (ReentrantCallError).
  class MetricsBridge
    # The yk_metrics_responder to give the library.
    attr_reader :table

    def initialize(responder, guard)
      @responder = responder
      @guard = guard
      @emitters = Registry.new
      @id = HANDLES.add(self)
      @table = Native::MetricsResponder.new
      @table[:opaque] = FFI::Pointer.new(@id)
      @table[:get_counter_emitter] = COUNTER_EMITTER
      @table[:get_timer_emitter] = TIMER_EMITTER
      @table[:record] = RECORD
      @table[:free_emitter] = FREE_EMITTER
    end

    # Forgets the bridge once its handle is freed.
    def release
      HANDLES.delete(@id)
    end

    # An emitter id for the responder's answer to get_*_emitter (0: it raised).
    def emitter(method, metric, dimensions, count)
      @guard.callback(FFI::Pointer::NULL) do
        dims = Array.new(count) { |i| Native::Dimension.new(dimensions + (i * Native::Dimension.size)) }
        FFI::Pointer.new(@emitters.add(@responder.public_send(method, metric, dims.to_h { |d| [d[:key], d[:value]] })))
      end
    end

    def record(emitter, value, timestamp_ms)
      @guard.callback do
        @responder.record(@emitters[emitter.address], value, Time.at(0, timestamp_ms, :millisecond)) unless emitter.null?
      end
    end

    def free_emitter(emitter)
      @emitters.delete(emitter.address)
    end

    # The C callbacks, shared by every bridge; opaque is the bridge's id.
    COUNTER_EMITTER = FFI::Function.new(:pointer, %i[pointer string pointer size_t]) do |opaque, metric, dims, count|
      HANDLES[opaque.address].emitter(:get_counter_emitter, metric, dims, count)
    end
    TIMER_EMITTER = FFI::Function.new(:pointer, %i[pointer string pointer size_t]) do |opaque, metric, dims, count|
      HANDLES[opaque.address].emitter(:get_timer_emitter, metric, dims, count)
    end
    RECORD = FFI::Function.new(:void, %i[pointer pointer double int64]) do |opaque, emitter, value, timestamp_ms|
      HANDLES[opaque.address].record(emitter, value, timestamp_ms)
    end
    FREE_EMITTER = FFI::Function.new(:void, %i[pointer pointer]) do |opaque, emitter|
      HANDLES[opaque.address].free_emitter(emitter)
    end
  end
  private_constant :MetricsBridge
end
