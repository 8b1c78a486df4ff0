# frozen_string_literal: true

require_relative "test_helper"
require "tmpdir"
require "timeout"

# The multiprocessing group starts a Ruby worker process for its partition,
# which reads it through KafkaConsumer.multiprocessing_worker; stop ends
# the worker.
class MultiprocessingGroupTest < Minitest::Test
  WORKER = File.expand_path("multiprocessing_worker.rb", __dir__)

  def test_a_worker_process_reads_its_partition
    topic = "ruby-workers-#{Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)}"
    system(ENV.fetch("YK_CLUSTER_SH"), "kafka", "1", "topic", topic, "1", out: File::NULL, exception: true)
    word = run_word
    YelpKafka::Producer.new(cluster).tap { |p| p.send_messages(topic, word) }.close
    zookeeper = ENV.fetch("YK_ZOOKEEPER") { flunk "YK_ZOOKEEPER is unset: source target/cluster/env" }
    config = YelpKafka::KafkaConsumerConfig.new("ruby-#{word}", YelpKafka::ClusterConfig.new(
      "standard", "cluster1", bootstrap, zookeeper
    ), partitioner_cooldown: 0.2, auto_offset_reset: "smallest", offset_storage: "kafka",
       api_version_caps: "ListOffsets:3", max_termination_timeout_secs: 5)
    Dir.mktmpdir do |dir|
      report = File.join(dir, "report")
      group = YelpKafka::MultiprocessingGroup.new([topic], config,
                                                  [RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), WORKER,
                                                   report])
      runner = Thread.new { group.start }
      workers = Timeout.timeout(30) do
        sleep 0.05 until File.exist?(report)
        group.consumers
      end
      assert_equal "#{topic} 0 #{word}", File.read(report)
      assert_equal [[topic, 0, 0]], workers.map { |w| [w.topic, w.partition, w.restarts] }
      pid = workers.first.pid
      assert_operator pid, :>, 0
      group.stop(20)
      assert_nil runner.value
      assert_raises(Errno::ESRCH) { Process.kill(0, pid) }
      group.close
    ensure
      runner&.kill
    end
  end
end
