package yelpkafka

// #include <stdlib.h>
// #include <yelp_kafka.h>
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
