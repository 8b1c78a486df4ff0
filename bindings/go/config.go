package yelpkafka

// #include <stdlib.h>
// #include "yelp_kafka.h"
import "C"

import "unsafe"

// Options are the library's string options (client_id, acks, linger_ms,
// ...); which keys a handle takes is listed in include/yelp_kafka.h. An
// unknown key or a bad value fails the call that reads the options with
// ErrConfiguration naming the key. nil means every option at its default.
type Options map[string]string

// newCConfig copies options into a new yk_config; nil options give NULL
// (the defaults). Free the result with C.yk_config_free.
func newCConfig(options Options) (*C.yk_config, error) {
	if options == nil {
		return nil, nil
	}
	var config *C.yk_config
	if err := call(func() C.enum_yk_error { return C.yk_config_new(&config) }); err != nil {
		return nil, err
	}
	for key, value := range options {
		ckey, cvalue := C.CString(key), C.CString(value)
		err := call(func() C.enum_yk_error { return C.yk_config_set(config, ckey, cvalue) })
		C.free(unsafe.Pointer(ckey))
		C.free(unsafe.Pointer(cvalue))
		if err != nil {
			C.yk_config_free(config)
			return nil, err
		}
	}
	return config, nil
}

// ValidateClientOptions checks options against the client options
// (client_id, the timeouts, api_version_caps, ...: docs/configuration.md):
// ErrConfiguration naming the first unknown key or bad value.
func ValidateClientOptions(options Options) error {
	config, err := newCConfig(options)
	if err != nil {
		return err
	}
	defer C.yk_config_free(config)
	if config == nil {
		return nil
	}
	return call(func() C.enum_yk_error { return C.yk_config_validate_client(config) })
}

// DumpClientOptions is the effective client configuration of options, one
// "key = value" line per client option, those left at their default
// marked "(default)".
func DumpClientOptions(options Options) (string, error) {
	config, err := newCConfig(options)
	if err != nil {
		return "", err
	}
	if config == nil {
		if err := call(func() C.enum_yk_error { return C.yk_config_new(&config) }); err != nil {
			return "", err
		}
	}
	defer C.yk_config_free(config)
	return C.GoString(C.yk_config_dump_client(config)), nil
}

// Option is the value options set for key as the library reads it, and
// whether they set one (yk_config_get): a check that options reach the
// library as meant.
func (options Options) Option(key string) (string, bool) {
	config, err := newCConfig(options)
	if err != nil || config == nil {
		return "", false
	}
	defer C.yk_config_free(config)
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	value := C.yk_config_get(config, ckey)
	if value == nil {
		return "", false
	}
	return C.GoString(value), true
}
