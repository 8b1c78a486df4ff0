# bench/lib.sh, sourced by bench/parts/*.sh: what every part runs with.
#
# Three libraries take part: yelp_kafka (`yk`) and two anchors, Debian's
# librdkafka 2.0.2 and the librdkafka 2.16 of the confluent-kafka wheel
# (scripts/modern-mock-lib.sh finds it; the same bench binary runs on it
# through a directory holding librdkafka.so.1 -> that file, put first on
# LD_LIBRARY_PATH, as the tests run the modern mock). Each run is its own
# process, so its peak RSS (getrusage ru_maxrss) is one library's.
#
# A part runs each workload in interleaved rounds (BENCH_ROUNDS, default 5):
# every round runs every library once, and the medians are compared.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/target/bench"
mkdir -p "$out"

libraries=(rdkafka-2.0.2 rdkafka-2.16 yk)
anchors=(rdkafka-2.0.2 rdkafka-2.16)
# The yelp_kafka runs whose ratios to the anchors are printed.
subjects=(yk)
rounds="${BENCH_ROUNDS:-5}"

modern_dir="$out/rdkafka-2.16"
mkdir -p "$modern_dir"
ln -sfn "$(scripts/modern-mock-lib.sh)" "$modern_dir/librdkafka.so.1"

# build_bench NAME: bench/NAME_bench.c -> $out/NAME_bench, linked against
# libyelp_kafka.a and (by SONAME) librdkafka.so.1. The static link drops
# the library's functions the program never calls (`-Wl,--gc-sections`),
# as docs/installing.md tells users to link it.
build_bench() {
    # shellcheck disable=SC2046 # pkg-config prints one flag per word
    gcc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude "bench/$1_bench.c" target/release/libyelp_kafka.a \
        $(pkg-config --cflags --libs rdkafka) -lzstd -lpthread -ldl -lm -Wl,--gc-sections -o "$out/$1_bench"
}

# run_as LIBRARY BINARY ARGS...: one run of BINARY for LIBRARY; checks that
# the librdkafka it loaded is the one asked for. An anchor named with
# `-tuned` (rdkafka-2.16-tuned) runs with a last argument `tuned`: the
# consumer bench lifts librdkafka's pre-fetch limits then. A yelp_kafka
# variant `yk-NAME` runs yk with a last argument NAME (`yk-kafka`: the
# consumer group bench on Kafka's group protocol).
run_as() {
    local library="$1" binary="$2" line version
    shift 2
    version="${library#rdkafka-}"
    if [[ "$version" == *-tuned ]]; then
        version="${version%-tuned}"
        set -- "$@" tuned
    fi
    case "$library" in
    yk) line="$("$binary" yk "$@")" ;;
    yk-*) line="$("$binary" yk "$@" "${library#yk-}")" ;;
    rdkafka-2.16*) line="$(LD_LIBRARY_PATH="$modern_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$binary" rdkafka "$@")" ;;
    rdkafka-*) line="$("$binary" rdkafka "$@")" ;;
    esac
    local loaded="${line##*library=}"
    if [[ "$library" == rdkafka-* && "$loaded" != "$version"* ]]; then
        echo "$library ran on librdkafka $loaded" >&2
        exit 1
    fi
    echo "$line"
}

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Figures of the current workload: runs["LIBRARY FIELD"] lists every run's.
declare -A runs=()

# collect LIBRARY LINE FIELD...: adds LINE's FIELDs to the library's runs.
collect() {
    local library="$1" line="$2" name
    shift 2
    for name in "$@"; do
        runs["$library $name"]+=" $(field "$name" "$line")"
    done
}

# run_rounds "FIELD..." BINARY ARGS...: forgets the last workload's runs,
# then runs BINARY ARGS for every library in each of the interleaved rounds
# and collects FIELDs.
run_rounds() {
    local fields="$1" round library line
    shift
    runs=()
    for round in $(seq "$rounds"); do
        for library in "${libraries[@]}"; do
            line="$(run_as "$library" "$@")"
            # shellcheck disable=SC2086 # one word per field
            collect "$library" "$line" $fields
        done
    done
}

# median_of LIBRARY FIELD
median_of() {
    # shellcheck disable=SC2086 # word splitting of the collected figures is meant
    median ${runs["$1 $2"]}
}

# print_ratios HIGHER_IS_BETTER LOWER_IS_BETTER...: each subject's medians
# (yelp_kafka's) over each anchor's: the first field (a rate), then the
# others (costs).
print_ratios() {
    local subject anchor name ratios
    for subject in "${subjects[@]}"; do
        for anchor in "${anchors[@]}"; do
            ratios=""
            for name in "$@"; do
                ratios+="${ratios:+, }$name $(ratio "$(median_of "$subject" "$name")" "$(median_of "$anchor" "$name")")"
            done
            echo "  ratio yelp_kafka${subject#yk} / $anchor: $ratios"
        done
    done
}

# print_runs FIELD...: every run's figures, under the medians.
print_runs() {
    local library name line
    for library in "${libraries[@]}"; do
        line="    $library runs:"
        for name in "$@"; do
            line+=" $name${runs["$library $name"]};"
        done
        echo "$line"
    done
}

# mib KB: a peak RSS in MiB.
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

throughput_fields="msgs_per_s cpu_s rss_kb"

print_throughput_header() {
    printf '%-44s %14s %10s %16s %12s\n' "" "msgs/s" "cpu s" "cpu s / 1M msgs" "peak RSS MiB"
}

# print_throughput LABEL COUNT: each library's medians of the throughput
# workload just run (COUNT messages a run), every run, and the ratios.
print_throughput() {
    local label="$1" count="$2" library cpu per_million
    for library in "${libraries[@]}"; do
        cpu="$(median_of "$library" cpu_s)"
        per_million="$(awk -v c="$cpu" -v n="$count" 'BEGIN { printf "%.2f", c * 1e6 / n }')"
        printf '%-44s %14s %10s %16s %12s\n' "$library $label" "$(median_of "$library" msgs_per_s)" "$cpu" \
            "$per_million" "$(mib "$(median_of "$library" rss_kb)")"
    done
    # shellcheck disable=SC2086 # one word per field
    print_runs $throughput_fields
    # shellcheck disable=SC2086
    print_ratios $throughput_fields
}
