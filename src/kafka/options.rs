//! Reading the client options every connection runs on ([`ClientOptions`],
//! declared with their table in `config`): the engine reads them because
//! `api_version_caps` names APIs, which only the engine knows
//! ([`versions::parse_version_caps`]).

use crate::config::{ClientOptions, Config, CLIENT_OPTIONS};
use crate::error::{Error, Result};
use crate::kafka::versions;

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions::from_config(&Config::new()).expect("defaults are valid")
    }
}

impl ClientOptions {
    /// Reads the client options of `config`, ignoring keys of other tables.
    pub fn from_config(config: &Config) -> Result<ClientOptions> {
        let options = config.reader(CLIENT_OPTIONS);
        let client_id = options.text("client_id").to_string();
        if client_id.is_empty() {
            return Err(Error::configuration("configuration key \"client_id\": value is empty"));
        }
        Ok(ClientOptions {
            client_id,
            metadata_timeout: options.millis("metadata_timeout_ms")?,
            request_timeout: options.millis("request_timeout_ms")?,
            connect_timeout: options.millis("connect_timeout_ms")?,
            reconnect_backoff: options.millis("reconnect_backoff_ms")?,
            reconnect_backoff_max: options.millis("reconnect_backoff_max_ms")?,
            max_response_bytes: options.int("max_response_bytes")? as usize,
            api_version_caps: versions::parse_version_caps(options.text("api_version_caps"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn defaults_follow_the_table() {
        let options = ClientOptions::default();
        assert_eq!(options.client_id, "yelp-kafka");
        assert_eq!(options.metadata_timeout, Duration::from_secs(10));
        assert!(options.api_version_caps.is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let mut config = Config::new();
        config.set("no_such_key", "1").unwrap();
        let err = config.validate(&[CLIENT_OPTIONS]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Configuration);
        assert!(err.message().contains("no_such_key"));

        let mut config = Config::new();
        config.set("request_timeout_ms", "-5").unwrap();
        let err = ClientOptions::from_config(&config).unwrap_err();
        assert!(err.message().contains("request_timeout_ms"), "{err}");
    }

    #[test]
    fn version_caps_parse_names_and_numbers() {
        let mut config = Config::new();
        config.set("api_version_caps", "ListOffsets:3, 0:7").unwrap();
        let options = ClientOptions::from_config(&config).unwrap();
        assert_eq!(options.api_version_caps.get(&2), Some(&3));
        assert_eq!(options.api_version_caps.get(&0), Some(&7));
        config.set("api_version_caps", "Bogus:1").unwrap();
        assert!(ClientOptions::from_config(&config).is_err());
    }
}
