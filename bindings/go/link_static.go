//go:build !yelpkafka_system

package yelpkafka

// The default build links the static library of this checkout, so programs
// need no libyelp_kafka.so at run time: run `cargo build --release` at the
// repository root first. libzstd comes from the system (libzstd-dev), as
// yelp_kafka.pc's Requires.private says.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libyelp_kafka.a -lzstd -lpthread -ldl -lm
import "C"
