# frozen_string_literal: true

module YelpKafka
  # Ruby objects the library refers to by integer: the opaque pointers of
  # callbacks and of messages are ids in here, never addresses of Ruby
  # objects (which the garbage collector may move or free).
  class Registry
    def initialize
      @mutex = Mutex.new
      @objects = {}
      @next_id = 0
    end

    # Keeps object and returns its id (never 0).
    def add(object)
      @mutex.synchronize do
        @next_id += 1
        @objects[@next_id] = object
        @next_id
      end
    end

    def [](id)
      @mutex.synchronize { @objects[id] }
    end

    def empty?
      @mutex.synchronize { @objects.empty? }
    end

    # Forgets id and returns its object.
    def delete(id)
      @mutex.synchronize { @objects.delete(id) }
    end
  end

  # The registry of the callbacks' opaque pointers.
  HANDLES = Registry.new

  # Keeps a C handle alive while calls use it: close marks it closed and the
  # last call to leave frees it, so no call reaches a freed handle and
  # closing never waits for other calls (a callback inside one of them may
  # be the caller). It also carries an exception of a Ruby callback across
  # the C boundary: the callback stores it instead of unwinding through the
  # library's frames, and the Ruby call that ran the callback raises it.
  #
  # Entering and leaving take no lock (on every call of the per-message
  # paths, a mutex's two round trips were 0.3 µs of #produce's cost,
  # BENCHMARKS.md): each step is one operation that Ruby's global lock
  # runs whole, an Array's push, pop or shift or an instance variable's
  # read or write. A call pushes onto @calls before it reads @closed, and
  # close sets @closed before its own call leaves: so when a leaving call
  # finds the handle closed and @calls empty, every later call will see
  # it closed and touch nothing; the one @free is shifted out once, by
  # whichever leaving call gets it first.
  class HandleGuard
    def initialize(what, &free)
      @what = what
      @free_once = [free]
      @mutex = Mutex.new
      @calls = []
      @closed = false
      @callback_error = nil
    end

    # Runs the block as one call into the handle.
    def call
      @calls.push(nil)
      begin
        check_open if @closed
        yield
      ensure
        # Leaves, in the call itself: this runs per message.
        @calls.pop
        @free_once.shift&.call if @closed && @calls.empty?
        raise_callback_error unless @callback_error.nil?
      end
    end

    # The calls inside the handle, for a per-message call that runs no
    # callback to enter inline, without #call's method call and block call
    # per message (BENCHMARKS.md, "The per-message paths again"): it
    # pushes onto calls, then raises #check_open if #closed, makes its C
    # call, and in an ensure pops and runs #leave_closed if #closed, in
    # that order (the order #call keeps).
    attr_reader :calls

    # Frees the handle when this inline call (see #calls), which found it
    # closed on leaving, was the last one inside.
    def leave_closed
      @free_once.shift&.call if @calls.empty?
    end

    # Raises what a callback raised since the last call, once. The error is
    # read without the lock first: it is only set and taken under it.
    def raise_callback_error
      return if @callback_error.nil?

      error = @mutex.synchronize do
        pending, @callback_error = @callback_error, nil
        pending
      end
      raise error if error
    end

    # Raises ClosedHandleError once the handle is closed; also for the
    # calls that need no hold on the handle.
    def check_open
      raise ClosedHandleError.new("the #{@what} was closed", code: ClosedHandleError::CODE) if @closed
    end

    # Whether the handle is closed: an attribute reader, for the calls
    # that need no hold on the handle to look first (#check_open raises).
    attr_reader :closed
    alias closed? closed

    # Marks the handle closed, from inside #call.
    def close
      @closed = true
    end

    # Runs a callback's block, keeping what it raises for the Ruby call that
    # ran the callback; returns fallback then.
    def callback(fallback = nil)
      outer = Thread.current[:yelp_kafka_callback_of]
      Thread.current[:yelp_kafka_callback_of] = self
      yield
    rescue Exception => e # rubocop:disable Lint/RescueException -- nothing may unwind through C frames
      @mutex.synchronize { @callback_error ||= e }
      fallback
    ensure
      Thread.current[:yelp_kafka_callback_of] = outer
    end

    # Whether a callback of this handle runs on this thread: the library
    # refuses a call into the handle from it (ReentrantCallError) only
    # when the call is made on this thread (Waiting.until_woken).
    def in_callback?
      Thread.current[:yelp_kafka_callback_of].equal?(self)
    end
  end
end
