//go:build yelpkafka_system

package yelpkafka

// With the build tag yelpkafka_system the package links the installed
// library found by pkg-config (`make install PREFIX=...`, then
// PKG_CONFIG_PATH=PREFIX/lib/pkgconfig), dynamically. The program needs
// libyelp_kafka.so.<major> at run time: install the library where the
// loader looks (ldconfig), or link with an rpath
// (CGO_LDFLAGS=-Wl,-rpath,PREFIX/lib).

// #cgo pkg-config: yelp_kafka
import "C"
