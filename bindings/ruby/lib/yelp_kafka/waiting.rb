# frozen_string_literal: true

require "io/wait"

module YelpKafka
  # How the blocking calls wait so that Timeout, Thread#kill and signal
  # traps get through at once (issue #14): a C call that blocks holds the
  # thread until it returns, whatever Ruby wants of it. So the gem never
  # lets the library block for long: it waits on the handle's ready
  # descriptor with IO#wait_readable, which Ruby interrupts, and takes what
  # is ready with calls that do not wait (docs/c-abi.md, "Ready
  # descriptors"); calls with nothing to wait on run in short slices; and
  # a call that waits for brokers but that the handle's stop or wakeup
  # ends (a group's run, a synchronous send, a commit) runs on a thread of
  # its own while this one waits for it (on_own_thread, until_woken).
  module Waiting
    # The longest a single C call may block; an interrupt waits at most this.
    SLICE = 0.02
    # A group rebalances only inside its calls (docs/c-abi.md): while its
    # descriptor stays quiet, it is called again this often.
    REBALANCE_INTERVAL = 0.2
    # How often until_woken wakes an interrupted call again until it returns.
    WAKE_REPEAT = 0.05

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

    # Runs the block (a C call that the handle's wakeup ends: a synchronous
    # send, a commit) inside guard on a thread of its own and returns its
    # value, waiting here, where Ruby can interrupt the wait. An interrupt
    # wakes the call with wake (the handle's yk_*_wakeup), which makes it
    # stop waiting within milliseconds (what it started may still land:
    # docs/c-abi.md, "Wakeups"), and waits until it has returned, so that
    # the handle's next call cannot take a wakeup meant for this one. A
    # wakeup ends one call of the handle, maybe another one, so it is asked
    # again every WAKE_REPEAT until this one returns. This thread holds
    # guard meanwhile, so that wake never reaches a freed handle. From a
    # callback of the handle the call runs here, where the library sees
    # that it re-enters the handle.
    def until_woken(guard, wake:)
      # From a callback of the handle, the library refuses the call at once.
      return guard.call { yield } if guard.in_callback?

      guard.call do
        runner = start_runner { guard.call { yield } }
        begin
          value, error = runner.value
        ensure
          while runner.alive?
            wake.call
            runner.join(WAKE_REPEAT)
          end
        end
        raise error if error

        value
      end
    end

    # Runs the block (C calls that nothing ends early: an offsets or
    # discovery request, bounded by request_timeout_ms and
    # metadata_timeout_ms) on a thread of its own and returns its value,
    # waiting here, where Ruby can interrupt the wait. An interrupt leaves
    # the block to finish in the background: it holds what it uses (a
    # handle's guard, its C handles and buffers) until then, and its
    # result, unknown to the caller, is freed.
    def detached
      value, error = start_runner { yield }.value
      raise error if error

      value
    end

    # A thread running the block that ends normally, with [value, nil] or
    # [nil, what the block raised]: joining it after an interrupt must not
    # replace the interrupt.
    def start_runner
      Thread.new do
        [yield, nil]
      rescue Exception => e # rubocop:disable Lint/RescueException -- raised again on the waiting thread
        [nil, e]
      end
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
