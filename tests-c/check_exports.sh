#!/usr/bin/env bash
# Checks that the C API, the shared library and the C test agree:
#   1. every yk_* function declared in include/yelp_kafka.h is referenced by
#      a C test, tests-c/*_test.c (an undefined symbol of its object file, so
#      a name in a comment or a string does not count);
#   2. the yk_* functions the shared library exports are exactly those the
#      header declares.
# Exits 1 and lists the names when something differs.
# Needs target/release/libyelp_kafka.so (cargo build --release).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
header="$root/include/yelp_kafka.h"
library="${YK_SHARED_LIBRARY:-$root/target/release/libyelp_kafka.so}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

[[ -f "$library" ]] || { echo "check_exports: $library not found (run cargo build --release)" >&2; exit 1; }

# Functions of the header: the preprocessor drops comments, then every
# identifier directly followed by "(" is a declared function.
gcc -E -P -x c "$header" \
    | grep -oE '\byk_[A-Za-z0-9_]+[[:space:]]*\(' \
    | sed -E 's/[[:space:]]*\($//' | sort -u >"$work/header"

# Functions the tests call: the undefined yk_* symbols of their object files.
for source in "$root"/tests-c/*_test.c; do
    object="$work/$(basename "$source" .c).o"
    gcc -std=c11 -O0 -c -I"$root/include" -I"$root/tests-c" "$source" -o "$object"
    nm -u "$object" | awk '{print $NF}' | grep -E '^yk_' || true
done | sort -u >"$work/test"

# Functions the shared library exports.
nm -D --defined-only "$library" | awk '$2 == "T" && $3 ~ /^yk_/ {print $3}' | sort -u >"$work/library"

status=0
report() {
    local title="$1" file="$2"
    if [[ -s "$file" ]]; then
        echo "check_exports: $title:"
        sed 's/^/  /' "$file"
        status=1
    fi
}

if [[ ! -s "$work/header" ]]; then
    echo "check_exports: no yk_* function found in $header" >&2
    exit 1
fi
comm -23 "$work/header" "$work/test" >"$work/untested"
comm -23 "$work/library" "$work/header" >"$work/undeclared"
comm -13 "$work/library" "$work/header" >"$work/unexported"
report "declared in include/yelp_kafka.h but not referenced by any tests-c/*_test.c" "$work/untested"
report "exported by $(basename "$library") but not declared in the header" "$work/undeclared"
report "declared in the header but not exported by $(basename "$library")" "$work/unexported"

if ((status == 0)); then
    echo "check_exports: $(wc -l <"$work/header") functions: declared, exported and tested"
fi
exit "$status"
