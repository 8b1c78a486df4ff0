//go:build !yelpkafka_system

package yelpkafka

// The default build links libyelp_kafka.a statically, so programs need no
// libyelp_kafka.so at run time. The linker looks for the archive
// (-l:libyelp_kafka.a) in the directories CGO_LDFLAGS names
// (CGO_LDFLAGS=-L/usr/local/lib after `make install`, or
// "$(pkg-config --libs-only-L yelp_kafka)"), then in the target/release
// of the checkout that holds this package (`cargo build --release` at its
// root): a vendored copy builds with CGO_LDFLAGS alone. libzstd comes from
// the system (libzstd-dev), as yelp_kafka.pc's Requires.private says. The
// header is the package's own copy of include/yelp_kafka.h
// (header_test.go checks that they are the same).

// #cgo LDFLAGS: -L${SRCDIR}/../../target/release -l:libyelp_kafka.a -lzstd -lpthread -ldl -lm
import "C"
