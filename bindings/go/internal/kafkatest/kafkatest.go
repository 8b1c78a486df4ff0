// Package kafkatest holds what the binding's tests share: the local
// cluster's addresses (scripts/cluster.sh up writes them to
// target/cluster/env) and an independent reader, kcat, to check what the
// library produced.
package kafkatest

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bootstrap is the broker list of local Kafka cluster n (1 or 2), from
// $YK_KAFKAn; the test fails when it is unset.
func Bootstrap(t testing.TB, n int) []string {
	t.Helper()
	name := fmt.Sprintf("YK_KAFKA%d", n)
	list := os.Getenv(name)
	if list == "" {
		t.Fatalf("%s is unset: run scripts/cluster.sh up and source target/cluster/env", name)
	}
	return strings.Split(list, ",")
}

// RunWord is a word unique to this test run, to tell its messages from
// those of earlier runs on the same long-lived cluster.
func RunWord(t testing.TB) string {
	return fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
}

// Record is one message as kcat read it.
type Record struct {
	Partition int32
	Offset    int64
	Key       string
	Value     string
}

// ReadTopic reads every message of topic from the beginning with kcat and
// returns those whose value contains word.
func ReadTopic(t testing.TB, bootstrap []string, topic, word string) []Record {
	t.Helper()
	cmd := exec.Command("kcat", "-C", "-b", strings.Join(bootstrap, ","), "-t", topic,
		"-o", "beginning", "-e", "-q", "-f", "%p\t%o\t%k\t%s\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat -C %s: %v", topic, err)
	}
	var records []Record
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		fields := strings.SplitN(line, "\t", 4)
		if len(fields) != 4 || !strings.Contains(fields[3], word) {
			continue
		}
		partition, perr := strconv.ParseInt(fields[0], 10, 32)
		offset, oerr := strconv.ParseInt(fields[1], 10, 64)
		if perr != nil || oerr != nil {
			t.Fatalf("kcat printed a line it should not: %q", line)
		}
		records = append(records, Record{Partition: int32(partition), Offset: offset, Key: fields[2], Value: fields[3]})
	}
	return records
}

// Launcher sends a command to the mock launcher of local Kafka cluster n
// (docs/test-cluster.md: "topic <name> <partitions>", "leader <topic>
// <partition> <broker_id>", ...) through $YK_CLUSTER_SH and fails the test
// unless it answers OK.
func Launcher(t testing.TB, n int, command ...string) {
	t.Helper()
	clusterSh := os.Getenv("YK_CLUSTER_SH")
	if clusterSh == "" {
		t.Fatal("YK_CLUSTER_SH is unset: run scripts/cluster.sh up and source target/cluster/env")
	}
	args := append([]string{"kafka", strconv.Itoa(n)}, command...)
	out, err := exec.Command(clusterSh, args...).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "OK") {
		t.Fatalf("cluster.sh %s: %v: %s", strings.Join(args, " "), err, out)
	}
}
