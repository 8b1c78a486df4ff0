//! `yk_config`: the string key/value configuration every handle takes.

use std::collections::BTreeMap;
use std::ffi::{c_char, CString};

use crate::config::{Config, CLIENT_OPTIONS};
use crate::error::{ErrorCode, Result};
use crate::ffi::arguments::{c_str, check_out, to_c_string};
use crate::ffi::boundary::{boundary, boundary_value, function_name};
use crate::ffi::handles::{free_handle, handle, handle_mut, write_handle, Boxed, Handle, MadeIn};

/// Key/value configuration. Keys are checked by the function that reads the
/// configuration, which names any unknown key or bad value.
/// Not synchronized: a call that changes it (one taking a non-const
/// pointer) must have it to itself; calls taking a const pointer may run
/// from several threads at once while nothing changes it.
pub struct yk_config {
    pub(crate) values: Config,
    c_values: BTreeMap<String, CString>,
    effective: Option<CString>,
}

impl Handle for yk_config {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        None
    }
}

impl yk_config {
    /// The configuration of an optional `yk_config` pointer (NULL: defaults).
    pub(crate) fn values_or_default(config: Option<&yk_config>) -> Config {
        config.map(|c| c.values.clone()).unwrap_or_default()
    }
}

/// Creates an empty configuration (every option at its default) in `*out`.
/// Free it with `yk_config_free`. `*out` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_config_new(out: *mut *mut yk_config) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        write_handle(
            out,
            yk_config {
                values: Config::new(),
                c_values: BTreeMap::new(),
                effective: None,
            },
        );
        Ok(())
    })
}

/// Sets `key` to `value` (both copied). Keys are validated later, by the
/// handle that reads the configuration.
#[no_mangle]
pub unsafe extern "C" fn yk_config_set(config: *mut yk_config, key: *const c_char, value: *const c_char) -> ErrorCode {
    boundary(function_name!(), || {
        let config = handle_mut(config, "config")?;
        let (key, value) = (c_str(key, "key")?, c_str(value, "value")?);
        config.values.set(key, value)?;
        config.c_values.insert(key.to_string(), to_c_string(value, "value")?);
        Ok(())
    })
}

/// The value set for `key`, or NULL when it is unset (or on a bad argument,
/// with the last error set). Owned by `config`, valid until the key is set
/// again or the configuration is freed.
#[no_mangle]
pub unsafe extern "C" fn yk_config_get(config: *const yk_config, key: *const c_char) -> *const c_char {
    boundary_value(function_name!(), std::ptr::null(), || {
        let config = handle(config, "config")?;
        let key = c_str(key, "key")?;
        Ok(config.c_values.get(key).map_or(std::ptr::null(), |v| v.as_ptr()))
    })
}

/// Checks every key and value of `config` against the client options
/// (`client_id`, timeouts, `api_version_caps`, ...): `YK_ERROR_CONFIGURATION`
/// naming the first unknown key or bad value.
#[no_mangle]
pub unsafe extern "C" fn yk_config_validate_client(config: *const yk_config) -> ErrorCode {
    boundary(function_name!(), || {
        client_options(Some(handle(config, "config")?)).map(|_| ())
    })
}

/// The effective client configuration, one `key = value` line per option,
/// defaults marked `(default)`. Owned by `config`, valid until the next call
/// of this function on it or until it is freed.
#[no_mangle]
pub unsafe extern "C" fn yk_config_dump_client(config: *mut yk_config) -> *const c_char {
    boundary_value(function_name!(), std::ptr::null(), || {
        let config = handle_mut(config, "config")?;
        let dump = to_c_string(&config.values.effective(&[CLIENT_OPTIONS]), "configuration dump")?;
        Ok(config.effective.insert(dump).as_ptr())
    })
}

/// Frees a configuration. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_config_free(config: *mut yk_config) {
    free_handle(config, function_name!());
}

pub(crate) fn client_options(config: Option<&yk_config>) -> Result<crate::config::ClientOptions> {
    let values = yk_config::values_or_default(config);
    values.validate(&[CLIENT_OPTIONS])?;
    crate::config::ClientOptions::from_config(&values)
}
