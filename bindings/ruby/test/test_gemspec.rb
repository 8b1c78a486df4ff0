# frozen_string_literal: true

require_relative "test_helper"
require "tmpdir"

class GemspecTest < Minitest::Test
  GEMSPEC = File.expand_path("../yelp_kafka.gemspec", __dir__)

  def test_ffi_dependency_is_bounded_to_one_major_version
    dependency = Gem::Specification.load(GEMSPEC).dependencies.find { |d| d.name == "ffi" }
    assert dependency.requirement.satisfied_by?(Gem::Version.new("1.15.5"))
    refute dependency.requirement.satisfied_by?(Gem::Version.new("2.0.0"))
  end

  # gem build warns only about the homepage, which waits for the project's
  # canonical URL (the gemspec says why).
  def test_gem_build_warns_only_about_the_missing_homepage
    Dir.mktmpdir do |dir|
      output, status = Open3.capture2e("gem", "build", GEMSPEC, "--output", File.join(dir, "yelp_kafka.gem"),
                                       chdir: File.dirname(GEMSPEC))
      assert status.success?, output
      warnings = output.lines.grep(/WARNING/).map(&:strip).reject { |w| w.include?("guides.rubygems.org") }
      assert_equal ["WARNING:  no homepage specified"], warnings
    end
  end
end
