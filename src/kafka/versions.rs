//! API version negotiation: which version of each API to speak with one broker.
//!
//! The broker lists its ranges in an ApiVersions response; the library's
//! range per API is what `kafka-protocol` can encode and decode, narrowed by
//! the caller's caps (`api_version_caps`) and by versions known to be
//! mis-encoded by deployed brokers. The chosen version is the highest one
//! both sides support. Also reads the caps as configured (API names or
//! key numbers).

use std::collections::{BTreeMap, HashMap};

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Decodable, StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use crate::error::{Error, ErrorCode, Result};
use crate::kafka::connection::Connection;
use crate::kafka::KafkaRequest;

/// Versions that some brokers answer with a body that does not decode:
/// Produce v5 responses of librdkafka's mock broker lack a field.
const AVOIDED_VERSIONS: &[(ApiKey, i16)] = &[(ApiKey::Produce, 5)];

/// Highest versions the engine speaks where the codec goes further: from
/// Produce v13 and Fetch v13 on, topics are named by id, which the engine
/// does not track. The group membership requests stay at the versions
/// librdkafka sends (JoinGroup 5, SyncGroup 3, Heartbeat 3, LeaveGroup 1):
/// librdkafka's mock broker offers more but reads the flexible versions'
/// arrays as fixed-width and drops the connection (docs/protocol-notes.md),
/// and those versions carry everything the member uses, static membership
/// included.
const LIBRARY_MAX_VERSIONS: &[(ApiKey, i16)] = &[
    (ApiKey::Produce, 12),
    (ApiKey::Fetch, 12),
    (ApiKey::JoinGroup, 5),
    (ApiKey::SyncGroup, 3),
    (ApiKey::Heartbeat, 3),
    (ApiKey::LeaveGroup, 1),
];

/// The versions negotiated with one broker.
#[derive(Debug, Clone)]
pub struct ApiVersionTable {
    broker: HashMap<i16, VersionRange>,
    caps: BTreeMap<i16, i16>,
    api_versions_version: i16,
}

impl ApiVersionTable {
    /// The broker's range for `api`, if it offers the API.
    pub fn broker_range(&self, api: ApiKey) -> Option<VersionRange> {
        self.broker.get(&(api as i16)).copied()
    }

    /// The ApiVersions version the broker finally answered.
    pub fn api_versions_version(&self) -> i16 {
        self.api_versions_version
    }

    /// The highest version of `R` both sides support.
    pub fn version_for<R: KafkaRequest>(&self) -> Result<i16> {
        self.choose(R::KEY, R::supported_versions())
    }

    fn choose(&self, api: ApiKey, ours: VersionRange) -> Result<i16> {
        let unsupported = |why: String| Error::new(ErrorCode::UnsupportedVersion, why);
        let broker = self
            .broker_range(api)
            .ok_or_else(|| unsupported(format!("the broker does not offer {api:?}")))?;
        let library_max = LIBRARY_MAX_VERSIONS
            .iter()
            .find(|(key, _)| *key == api)
            .map_or(i16::MAX, |(_, max)| *max);
        let cap = self
            .caps
            .get(&(api as i16))
            .copied()
            .unwrap_or(i16::MAX)
            .min(library_max);
        let shared = ours.intersect(&broker).intersect(&VersionRange { min: 0, max: cap });
        (shared.min..=shared.max)
            .rev()
            .find(|v| !AVOIDED_VERSIONS.contains(&(api, *v)))
            .ok_or_else(|| {
                unsupported(format!(
                    "{api:?}: the broker offers {broker}, this library {ours}, cap {cap}: no common version"
                ))
            })
    }
}

/// Asks the broker for its API versions, starting at the highest version we
/// know and going down when the broker answers UNSUPPORTED_VERSION.
pub async fn negotiate(
    connection: &Connection,
    caps: &BTreeMap<i16, i16>,
    timeout: std::time::Duration,
) -> Result<ApiVersionTable> {
    let ours = ApiVersionsRequest::supported_versions();
    let mut version = caps
        .get(&(ApiKey::ApiVersions as i16))
        .map_or(ours.max, |cap| (*cap).min(ours.max));
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("yelp-kafka"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    loop {
        let body = connection
            .request(ApiKey::ApiVersions, version, &request, timeout)
            .await?;
        let error_code = body.clone().try_get_i16().map_err(|_| {
            Error::new(
                ErrorCode::Protocol,
                format!("{}: empty ApiVersions response", connection.address()),
            )
        })?;
        // The broker cannot parse our ApiVersions version.
        if error_code == ResponseError::UnsupportedVersion.code() && version > ours.min {
            // Real brokers answer with a v0 body that lists their ApiVersions
            // range; librdkafka's mock garbles that body, so when it does not
            // decode we step down one version at a time.
            let listed = decode_exact::<ApiVersionsResponse>(body, 0, 0).ok().and_then(|r| {
                r.api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                    .map(|k| k.max_version)
            });
            version = listed.map_or(version - 1, |max| max.clamp(ours.min, version - 1));
            continue;
        }
        if error_code != 0 {
            return Err(Error::from_kafka(
                error_code,
                format!("ApiVersions v{version} to {}", connection.address()),
            ));
        }
        let response = decode_exact::<ApiVersionsResponse>(body, version, 0)
            .map_err(|e| e.context(format!("ApiVersions v{version} from {}", connection.address())))?;
        let broker = response
            .api_keys
            .iter()
            .map(|k| {
                (
                    k.api_key,
                    VersionRange {
                        min: k.min_version,
                        max: k.max_version,
                    },
                )
            })
            .collect();
        return Ok(ApiVersionTable {
            broker,
            caps: caps.clone(),
            api_versions_version: version,
        });
    }
}

/// Parses `api_version_caps`: `Name:version,...` where Name is an API name
/// (`ListOffsets`) or its key number. The caps by API key.
pub fn parse_version_caps(text: &str) -> Result<BTreeMap<i16, i16>> {
    let mut caps = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad =
            |why: &str| Error::configuration(format!("configuration key \"api_version_caps\": entry {entry:?} {why}"));
        let (api, version) = entry.split_once(':').ok_or_else(|| bad("is not Name:version"))?;
        let key = api_key_by_name(api.trim()).ok_or_else(|| bad("names no known API"))?;
        let version: i16 = version.trim().parse().map_err(|_| bad("has no valid version"))?;
        if version < 0 {
            return Err(bad("has a negative version"));
        }
        caps.insert(key, version);
    }
    Ok(caps)
}

/// The API key named `name` (`ListOffsets`) or numbered `name` (`2`).
pub fn api_key_by_name(name: &str) -> Option<i16> {
    if let Ok(number) = name.parse::<i16>() {
        return ApiKey::try_from(number).ok().map(|_| number);
    }
    ApiKey::iter()
        .find(|api| format!("{api:?}") == name)
        .map(|api| api as i16)
}

/// Decodes a response body at `version` and insists that at most
/// `tolerated_leftover` bytes are left over: leftover bytes mean the broker
/// and the codec disagree on the layout, and the decoded values cannot be
/// trusted.
pub fn decode_exact<T: Decodable>(mut body: Bytes, version: i16, tolerated_leftover: usize) -> Result<T> {
    let decoded = T::decode(&mut body, version).map_err(|e| {
        Error::new(
            ErrorCode::Protocol,
            format!("response does not decode at v{version}: {e}"),
        )
    })?;
    if body.remaining() > tolerated_leftover {
        return Err(Error::new(
            ErrorCode::Protocol,
            format!(
                "{} bytes left over after decoding the response at v{version}",
                body.remaining()
            ),
        ));
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ListOffsetsRequest, MetadataRequest, ProduceRequest};

    fn table(broker: &[(ApiKey, i16, i16)], caps: &[(ApiKey, i16)]) -> ApiVersionTable {
        ApiVersionTable {
            broker: broker
                .iter()
                .map(|(k, min, max)| (*k as i16, VersionRange { min: *min, max: *max }))
                .collect(),
            caps: caps.iter().map(|(k, v)| (*k as i16, *v)).collect(),
            api_versions_version: 2,
        }
    }

    #[test]
    fn api_names_resolve_to_keys() {
        assert_eq!(api_key_by_name("Produce"), Some(0));
        assert_eq!(api_key_by_name("ListOffsets"), Some(2));
        assert_eq!(api_key_by_name("ApiVersions"), Some(18));
        assert_eq!(api_key_by_name("3"), Some(3));
        assert_eq!(api_key_by_name("Nope"), None);
    }

    #[test]
    fn picks_the_highest_common_version() {
        let t = table(&[(ApiKey::Metadata, 0, 2), (ApiKey::ListOffsets, 0, 5)], &[]);
        assert_eq!(t.version_for::<MetadataRequest>().unwrap(), 2);
        assert_eq!(t.version_for::<ListOffsetsRequest>().unwrap(), 5);
    }

    #[test]
    fn caps_and_avoided_versions_lower_the_choice() {
        let t = table(
            &[(ApiKey::ListOffsets, 0, 5), (ApiKey::Produce, 0, 5)],
            &[(ApiKey::ListOffsets, 3)],
        );
        assert_eq!(t.version_for::<ListOffsetsRequest>().unwrap(), 3);
        assert_eq!(t.version_for::<ProduceRequest>().unwrap(), 4);
    }

    #[test]
    fn topic_id_versions_are_not_picked() {
        let t = table(&[(ApiKey::Produce, 3, 13)], &[]);
        assert_eq!(t.version_for::<ProduceRequest>().unwrap(), 12);
    }

    #[test]
    fn no_common_version_is_unsupported() {
        let t = table(&[(ApiKey::Produce, 0, 2)], &[]);
        assert_eq!(
            t.version_for::<ProduceRequest>().unwrap_err().code(),
            ErrorCode::UnsupportedVersion
        );
        let t = table(&[], &[]);
        assert_eq!(
            t.version_for::<MetadataRequest>().unwrap_err().code(),
            ErrorCode::UnsupportedVersion
        );
    }
}
