//! A typed channel to one broker: a connection plus the API versions
//! negotiated on it.

use std::marker::PhantomData;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use crate::config::ClientOptions;
use crate::error::Result;
use crate::kafka::connection::{Connection, EncodedFrame};
use crate::kafka::frame::FramedBatch;
use crate::kafka::versions::{self, decode_exact, ApiVersionTable};
use crate::kafka::KafkaRequest;

/// A connected broker with negotiated API versions.
pub struct BrokerConnection {
    connection: Connection,
    versions: ApiVersionTable,
    request_timeout: Duration,
}

impl BrokerConnection {
    /// Connects to `address` and negotiates versions, all within `options.connect_timeout`.
    pub async fn connect(address: &str, options: &ClientOptions) -> Result<BrokerConnection> {
        let setup = async {
            let connection = Connection::connect(
                address,
                &options.client_id,
                options.max_response_bytes,
                options.connect_timeout,
            )
            .await?;
            let versions = versions::negotiate(&connection, &options.api_version_caps, options.connect_timeout).await?;
            Ok(BrokerConnection {
                connection,
                versions,
                request_timeout: options.request_timeout,
            })
        };
        tokio::time::timeout(options.connect_timeout, setup)
            .await
            .unwrap_or_else(|_| {
                Err(crate::error::Error::new(
                    crate::error::ErrorCode::Transport,
                    format!("connecting to {address} took longer than {:?}", options.connect_timeout),
                ))
            })
    }

    /// The broker's `host:port`.
    pub fn address(&self) -> &str {
        self.connection.address()
    }

    /// The versions negotiated with this broker.
    pub fn versions(&self) -> &ApiVersionTable {
        &self.versions
    }

    /// Whether the socket failed; the owner must reconnect.
    pub fn is_poisoned(&self) -> bool {
        self.connection.is_poisoned()
    }

    /// Sends `request` at the negotiated version and decodes the response.
    /// Returns the response and the version used (field meanings vary by version).
    pub async fn send<R: KafkaRequest>(&self, request: &R) -> Result<(R::Response, i16)> {
        let prepared = self.prepare(request, Vec::new())?;
        self.send_prepared(prepared).await
    }

    /// Sends `request` like [`send`](Self::send), waiting up to `timeout`
    /// for the answer instead of the request timeout: a JoinGroup is
    /// answered only when the group's rebalance ends.
    pub async fn send_within<R: KafkaRequest>(&self, request: &R, timeout: Duration) -> Result<(R::Response, i16)> {
        self.exchange(self.prepare(request, Vec::new())?, timeout).await
    }

    /// Sends `request` like [`send_within`](Self::send_within) and returns
    /// the response body undecoded, with the version used, for a caller
    /// that must read what a strict decode refuses.
    pub async fn send_within_undecoded<R: KafkaRequest>(&self, request: &R, timeout: Duration) -> Result<(Bytes, i16)> {
        let prepared = self.prepare(request, Vec::new())?;
        let version = prepared.frame.version();
        Ok((self.connection.exchange(prepared.frame, timeout).await?, version))
    }

    /// Encodes `request` at the negotiated version, to be sent by
    /// [`send_prepared`](Self::send_prepared) or
    /// [`send_prepared_unanswered`](Self::send_prepared_unanswered). The
    /// prepared request refers to those of `batches` (a Produce request's
    /// record batches) that `request` holds, or holds a stand-in of, until
    /// it is written, and holds nothing else of `request`.
    pub fn prepare<R: KafkaRequest>(&self, request: &R, batches: Vec<FramedBatch>) -> Result<PreparedRequest<R>> {
        let version = self.versions.version_for::<R>()?;
        Ok(PreparedRequest {
            frame: self.connection.encode(R::KEY, version, request, batches)?,
            request: PhantomData,
        })
    }

    /// Sends a prepared request and decodes the response. Returns the
    /// response and the version used (field meanings vary by version).
    pub async fn send_prepared<R: KafkaRequest>(&self, prepared: PreparedRequest<R>) -> Result<(R::Response, i16)> {
        self.exchange(prepared, self.request_timeout).await
    }

    async fn exchange<R: KafkaRequest>(
        &self,
        prepared: PreparedRequest<R>,
        timeout: Duration,
    ) -> Result<(R::Response, i16)> {
        let version = prepared.frame.version();
        let body = self.connection.exchange(prepared.frame, timeout).await?;
        let response = decode_response::<R>(body, version)
            .map_err(|e| e.context(format!("{:?} from {}", R::KEY, self.address())))?;
        Ok((response, version))
    }

    /// Sends a prepared request without waiting for a response (only for
    /// requests the broker does not answer, as Produce with acks=0).
    pub async fn send_prepared_unanswered<R: KafkaRequest>(&self, prepared: PreparedRequest<R>) -> Result<()> {
        self.connection
            .send_without_response(prepared.frame, self.request_timeout)
            .await
    }
}

/// A request of type `R` encoded for one broker connection.
#[derive(Debug)]
pub struct PreparedRequest<R> {
    frame: EncodedFrame,
    request: PhantomData<fn() -> R>,
}

/// Metadata v9 and later responses of some brokers carry one trailing
/// tagged-field byte that the codec does not consume; anything else left
/// over is an error.
pub fn decode_response<R: KafkaRequest>(body: Bytes, version: i16) -> Result<R::Response> {
    let tolerated_leftover = usize::from(R::KEY == ApiKey::Metadata && version >= 9);
    decode_exact::<R::Response>(body, version, tolerated_leftover)
}
