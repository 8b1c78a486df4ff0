//go:build !yelpkafka_system

package yelpkafka

// The default build links the static library of this checkout, so programs
// need no libyelp_kafka.so at run time: run `cargo build --release` at the
// repository root first.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libyelp_kafka.a -lpthread -ldl -lm
import "C"
