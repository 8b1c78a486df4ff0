# frozen_string_literal: true

module YelpKafka
  # Checks the arguments of public methods before they reach C, so a wrong
  # type is a TypeError naming the argument rather than an error from deep
  # inside ffi (`send_messages("t", 42)` would otherwise fail on 42.bytesize).
  # Strings follow Ruby's implicit conversion: anything answering to_str.
  module Arguments
    module_function

    # value as a String; TypeError unless it is one (or converts implicitly).
    def string(value, name)
      return value if value.instance_of?(String)
      return value.to_str if value.respond_to?(:to_str)

      raise TypeError, "#{name} must be a String, not #{value.class}"
    end

    # Like string, nil passing through (a null key or value).
    def optional_string(value, name)
      value.nil? ? nil : string(value, name)
    end

    # An Array of Strings.
    def strings(values, name)
      raise TypeError, "#{name} must be an Array of Strings, not #{values.class}" unless values.is_a?(Array)

      values.each_with_index.map { |value, i| string(value, "#{name}[#{i}]") }
    end

    # An Integer, or nil when nil is allowed.
    def integer(value, name, optional: false)
      return value if value.is_a?(Integer) || (optional && value.nil?)

      raise TypeError, "#{name} must be an Integer#{' or nil' if optional}, not #{value.class}"
    end

    # A duration in seconds (any real number), or nil (no limit) when
    # allowed.
    def seconds(value, name, optional: false)
      return value if (value.is_a?(Numeric) && value.real?) || (optional && value.nil?)

      raise TypeError, "#{name} must be a number of seconds#{' or nil' if optional}, not #{value.class}"
    end

    # value itself, when it is a klass.
    def instance(value, klass, name)
      return value if value.is_a?(klass)

      raise TypeError, "#{name} must be a #{klass.name}, not #{value.class}"
    end

    # The options of a call: a Hash given positionally (the older form) and
    # keywords, merged; nil when there are none (the library's defaults).
    def options(positional, keywords)
      unless positional.nil? || positional.is_a?(Hash)
        raise TypeError, "options must be a Hash or keywords, not #{positional.class}"
      end

      merged = (positional || {}).merge(keywords)
      merged.each_key do |key|
        next if key.is_a?(Symbol) || key.is_a?(String)

        raise TypeError, "option names must be Symbols or Strings, not #{key.class}"
      end
      merged.empty? ? nil : merged
    end
  end
  private_constant :Arguments
end
