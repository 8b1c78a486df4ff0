#!/usr/bin/env bash
# Prints the path of the librdkafka 2.16 shared library bundled in the
# confluent-kafka wheel (installed by scripts/setup.sh); the tests run a
# second mock cluster on it (docs/test-cluster.md).
set -euo pipefail
python3 - <<'PY'
import glob, os, sys
import confluent_kafka
libs = os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs")
found = sorted(glob.glob(os.path.join(libs, "librdkafka-*.so*")))
if not found:
    sys.exit(f"no librdkafka in {libs}: run scripts/setup.sh")
print(found[0])
PY
