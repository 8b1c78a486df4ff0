//go:build yelpkafka_system

package yelpkafka

// With the build tag yelpkafka_system the package links the installed
// library found by pkg-config (`make install PREFIX=...`, then
// PKG_CONFIG_PATH=PREFIX/lib/pkgconfig), dynamically.

// #cgo pkg-config: yelp_kafka
import "C"
