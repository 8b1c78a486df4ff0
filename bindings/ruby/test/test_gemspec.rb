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

  # Full metadata: gem build has nothing to warn about.
  def test_gem_build_gives_no_warning
    Dir.mktmpdir do |dir|
      output, status = Open3.capture2e("gem", "build", GEMSPEC, "--output", File.join(dir, "yelp_kafka.gem"),
                                       chdir: File.dirname(GEMSPEC))
      assert status.success?, output
      assert_empty output.lines.grep(/WARNING/), output
    end
  end

  def test_homepage_is_the_projects_repository
    spec = Gem::Specification.load(GEMSPEC)
    assert_equal "https://github.com/Yelp/libyelp_kafka", spec.homepage
    assert spec.metadata["source_code_uri"].start_with?(spec.homepage)
  end
end
