package yelpkafka

import (
	"bytes"
	"os"
	"testing"
)

//go:generate cp ../../include/yelp_kafka.h yelp_kafka.h

// The package's copy of the header, which lets it build outside the
// checkout (vendored, or as a module of its own), is the checkout's
// include/yelp_kafka.h: refresh it with `go generate` after the header
// changes.
func TestTheHeaderCopyIsTheCheckouts(t *testing.T) {
	checkout, err := os.ReadFile("../../include/yelp_kafka.h")
	if os.IsNotExist(err) {
		t.Skip("not inside a checkout of yelp_kafka")
	}
	if err != nil {
		t.Fatal(err)
	}
	copied, err := os.ReadFile("yelp_kafka.h")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(copied, checkout) {
		t.Fatal("bindings/go/yelp_kafka.h differs from include/yelp_kafka.h: run `go generate` in bindings/go")
	}
}
