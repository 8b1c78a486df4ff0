# frozen_string_literal: true

require "io/wait"

module YelpKafka
  # How the blocking calls wait so that Timeout, Thread#kill and signal
  # traps get through at once (issue #14): a C call that blocks holds the
  # thread until it returns, whatever Ruby wants of it. So the gem never
  # lets the library block for long: it waits on the handle's ready
  # descriptor with IO#wait_readable, which Ruby interrupts, and takes what
  # is ready with calls that do not wait (docs/c-abi.md, "Ready
  # descriptors"); calls with nothing to wait on run in short slices.
  module Waiting
    # The longest a single C call may block; an interrupt waits at most this.
    SLICE = 0.02
    # A group rebalances only inside its calls (docs/c-abi.md): while its
    # descriptor stays quiet, it is called again this often.
    REBALANCE_INTERVAL = 0.2

    module_function

    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    # The monotonic time timeout seconds from now; nil (no limit) for nil
    # or a negative timeout.
    def deadline(timeout)
      timeout.nil? || timeout.negative? ? nil : now + timeout
    end

    # Seconds left until deadline, never negative; nil for no deadline.
    def remaining(deadline)
      deadline && [deadline - now, 0].max
    end

    # The handle's ready descriptor as an IO that never closes it: the
    # library owns the descriptor.
    def ready_io(fd)
      IO.for_fd(fd, "r", autoclose: false)
    end

    # Runs the block (a C call that holds its thread until stop is called)
    # inside guard on a thread of its own and waits for it here, where Ruby
    # can interrupt the wait; an interrupt calls stop, and the thread goes
    # on until the library returns. Returns nil; raises what the block
    # raised.
    def on_own_thread(guard, stop:)
      runner = Thread.new { guard.call { yield } }
      runner.report_on_exception = false
      begin
        runner.value
      ensure
        stop.call if runner.alive?
      end
      nil
    end

    # Runs the block (a C call taking milliseconds) with slices of at most
    # SLICE seconds until it returns something other than timed_out (the
    # code of a slice that ran out) or the deadline passes; returns the
    # last code.
    def in_slices(deadline, timed_out: TimedOutError::CODE)
      loop do
        left = remaining(deadline)
        code = yield Native.milliseconds(left ? [left, SLICE].min : SLICE)
        return code unless code == timed_out && (left.nil? || left.positive?)
      end
    end
  end
  private_constant :Waiting
end
