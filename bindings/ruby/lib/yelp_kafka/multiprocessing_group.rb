# frozen_string_literal: true

module YelpKafka
  # Python yelp_kafka's MultiprocessingConsumerGroup with worker processes
  # (docs/consumer-groups.md): a member of config's group that starts
  # command (program and arguments) once per partition it acquires. The
  # worker makes its consumer with KafkaConsumer.multiprocessing_worker.
  # A worker that exits is started again; on release workers get SIGTERM,
  # and SIGKILL after max_termination_timeout_secs. (The library's thread
  # workers run their callbacks on its own threads, which Ruby code must
  # not run on, so only processes are offered.)
  #
  #   group = YelpKafka::MultiprocessingGroup.new(["my_topic"], config, ["ruby", "worker.rb"])
  #   group.start # until group.stop from another thread, or an interrupt
  class MultiprocessingGroup
    # One live worker: restarts counts how often it was started again.
    Worker = Struct.new(:topic, :partition, :restarts, :pid)

    def initialize(topics, config, command)
      topics = Arguments.strings(topics, "topics")
      Arguments.instance(config, KafkaConsumerConfig, "config")
      command = Arguments.strings(command, "command")
      raise ArgumentError, "command needs a program" if command.empty?

      topic_names = topics.map { |t| FFI::MemoryPointer.from_string(t) }
      topic_array = FFI::MemoryPointer.new(:pointer, [topic_names.size, 1].max).write_array_of_pointer(topic_names)
      words = command.map { |w| FFI::MemoryPointer.from_string(w) }
      argv = FFI::MemoryPointer.new(:pointer, words.size).write_array_of_pointer(words)
      out = FFI::MemoryPointer.new(:pointer)
      config.with_handle(nil) do |c|
        Error.check(Native.yk_multiprocessing_group_new_processes(topic_array, topic_names.size, c, argv, words.size,
                                                                  out))
      end
      @handle = out.read_pointer
      @guard = HandleGuard.new("multiprocessing group") { Native.yk_multiprocessing_group_free(@handle) }
    end

    # Joins the group and runs a worker per partition held until #stop or
    # the loss of the ZooKeeper session (PartitionerError); the workers are
    # stopped and the party left before it returns. Timeout, Thread#kill
    # and signals interrupt it at once and stop the group, which then
    # winds down on its own thread.
    def start
      Waiting.on_own_thread(@guard, stop: -> { Native.yk_multiprocessing_group_stop(@handle, 0) }) do
        Error.check(Native.yk_multiprocessing_group_start(@handle))
      end
    end

    # Asks #start to stop the workers and leave, waiting up to timeout
    # seconds for it (TimedOutError when it has not yet; it still stops).
    def stop(timeout = 10)
      Arguments.seconds(timeout, "timeout")
      @guard.call { Error.check(Native.yk_multiprocessing_group_stop(@handle, Native.milliseconds(timeout))) }
    end

    # The live workers (Python yelp_kafka's get_consumers).
    def consumers
      @guard.call do
        out = FFI::MemoryPointer.new(:pointer)
        Error.check(Native.yk_multiprocessing_group_consumers(@handle, out))
        list = out.read_pointer
        begin
          Array.new(Native.yk_worker_list_count(list)) do |i|
            Worker.new(Native.yk_worker_list_topic(list, i), Native.yk_worker_list_partition(list, i),
                       Native.yk_worker_list_restarts(list, i), Native.yk_worker_list_pid(list, i))
          end
        ensure
          Native.yk_worker_list_free(list)
        end
      end
    end

    # Releases the group once #start has returned; later calls raise
    # ClosedHandleError.
    def close
      @guard.call { @guard.close }
    end
  end
end
