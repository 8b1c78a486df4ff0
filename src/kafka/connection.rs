//! One TCP connection to one broker: request framing, pipelining and
//! response routing by correlation id.
//!
//! Writers take the write half under a lock; one reader task reads frames
//! and hands each response body to the request that waits for it. When the
//! socket fails the connection becomes poisoned: every waiter and every later
//! request gets the same transport error, and the owner reconnects. A request
//! whose future is dropped removes its entry, so a late response is dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{encode_request_header_into_buffer, Decodable, Encodable, StrBytes};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorCode, Result};
use crate::kafka::frame::{Frame, FrameWriter, FramedBatch};
use crate::sync::Locking;

type ResponseSender = oneshot::Sender<Result<Bytes>>;

struct Pending {
    api: ApiKey,
    version: i16,
    reply: ResponseSender,
}

#[derive(Default)]
struct Routing {
    pending: HashMap<i32, Pending>,
    poisoned: Option<Error>,
}

/// A request encoded and framed (length, header, body), waiting to be sent
/// on the connection that encoded it.
#[derive(Debug)]
pub struct EncodedFrame {
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    frame: Frame,
}

impl EncodedFrame {
    /// The API version the request was encoded at.
    pub fn version(&self) -> i16 {
        self.version
    }
}

/// A framed, pipelined connection to one broker.
pub struct Connection {
    address: String,
    client_id: StrBytes,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    routing: Arc<Mutex<Routing>>,
    next_correlation_id: AtomicI32,
    reader: JoinHandle<()>,
    /// Frames are encoded here and split off; once a sent frame is dropped
    /// its memory is reused for the next, instead of fresh pages each time.
    frame_buffer: Mutex<BytesMut>,
}

impl Connection {
    /// Opens a TCP connection to `address` within `timeout`.
    pub async fn connect(
        address: &str,
        client_id: &str,
        max_response_bytes: usize,
        timeout: Duration,
    ) -> Result<Connection> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| Error::new(ErrorCode::Transport, format!("connect to {address} timed out")))?
            .map_err(|e| Error::new(ErrorCode::Transport, format!("connect to {address}: {e}")))?;
        stream.set_nodelay(true).ok();
        let (read_half, write_half) = stream.into_split();
        let routing = Arc::new(Mutex::new(Routing::default()));
        let reader = tokio::spawn(read_responses(
            read_half,
            Arc::clone(&routing),
            address.to_string(),
            max_response_bytes,
        ));
        Ok(Connection {
            address: address.to_string(),
            client_id: StrBytes::from_string(client_id.to_string()),
            writer: tokio::sync::Mutex::new(write_half),
            routing,
            next_correlation_id: AtomicI32::new(0),
            reader,
            frame_buffer: Mutex::new(BytesMut::new()),
        })
    }

    /// The broker's `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Whether the socket failed; a poisoned connection must be replaced.
    pub fn is_poisoned(&self) -> bool {
        self.routing.locked().poisoned.is_some()
    }

    /// Sends one request and waits up to `timeout` for its response body
    /// (the bytes after the response header).
    pub async fn request(&self, api: ApiKey, version: i16, body: &impl Encodable, timeout: Duration) -> Result<Bytes> {
        let frame = self.encode(api, version, body, Vec::new())?;
        self.exchange(frame, timeout).await
    }

    /// Sends an encoded request and waits up to `timeout` for its response
    /// body (the bytes after the response header).
    pub async fn exchange(&self, frame: EncodedFrame, timeout: Duration) -> Result<Bytes> {
        let EncodedFrame {
            api,
            version,
            correlation_id,
            frame,
        } = frame;
        let (reply, response) = oneshot::channel();
        // A poisoned connection refuses the write below; the guard then
        // removes this entry again.
        self.routing
            .locked()
            .pending
            .insert(correlation_id, Pending { api, version, reply });
        let mut guard = PendingGuard {
            routing: &self.routing,
            correlation_id,
            armed: true,
        };
        // The frame is dropped once written, not when the response comes:
        // then the next request's frame reuses its memory.
        let exchange = async move {
            self.write_frame(&frame).await?;
            drop(frame);
            response
                .await
                .map_err(|_| Error::new(ErrorCode::Transport, format!("{}: connection closed", self.address)))?
        };
        let result = match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorCode::RequestTimedOut,
                format!(
                    "{api:?} v{version} to {} got no response within {timeout:?}",
                    self.address
                ),
            )),
        };
        guard.armed = result.is_err();
        result
    }

    /// Sends an encoded request for which the broker sends no response
    /// (Produce with acks=0).
    pub async fn send_without_response(&self, frame: EncodedFrame, timeout: Duration) -> Result<()> {
        tokio::time::timeout(timeout, self.write_frame(&frame.frame))
            .await
            .map_err(|_| {
                Error::new(
                    ErrorCode::RequestTimedOut,
                    format!("write to {} timed out", self.address),
                )
            })?
    }

    /// Encodes one request into its frame, with the next correlation id.
    /// The frame refers to those of `batches` (a Produce request's record
    /// batches) the body holds instead of copying them (`kafka/frame.rs`),
    /// and shares nothing else with `body`, which the caller may drop or
    /// reuse before the frame is sent.
    pub fn encode(
        &self,
        api: ApiKey,
        version: i16,
        body: &impl Encodable,
        batches: Vec<FramedBatch>,
    ) -> Result<EncodedFrame> {
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed) & i32::MAX;
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        // Sized up front, without the batches the frame refers to.
        let body_size = body.compute_size(version).map_err(|e| encode_error(api, version, e))?;
        let referenced: usize = batches.iter().map(FramedBatch::len).sum();
        let mut buffer = self.frame_buffer.locked();
        buffer.reserve((64 + self.client_id.len() + body_size).saturating_sub(referenced));
        let mut writer = FrameWriter::new(std::mem::take(&mut *buffer), batches);
        writer.put_i32(0);
        let encoded = encode_request_header_into_buffer(&mut writer, &header)
            .and_then(|()| body.encode(&mut writer, version))
            .map_err(|e| encode_error(api, version, e));
        let length = i32::try_from(writer.len() - 4);
        if let Ok(length) = length {
            *writer.prefix_mut::<4>() = length.to_be_bytes();
        }
        let (frame, rest) = writer.finish();
        *buffer = rest;
        encoded?;
        if length.is_err() {
            return Err(Error::invalid_argument(format!("{api:?} request larger than 2 GiB")));
        }
        Ok(EncodedFrame {
            api,
            version,
            correlation_id,
            frame,
        })
    }

    async fn write_frame(&self, frame: &Frame) -> Result<()> {
        let mut writer = self.writer.lock().await;
        // The one check of a poisoned connection, under the write lock:
        // after a frame was cut off, nothing more may follow it.
        if let Some(error) = &self.routing.locked().poisoned {
            return Err(error.clone());
        }
        let mut cut_off = CutOffWrite {
            routing: &self.routing,
            address: &self.address,
            armed: true,
        };
        let written = frame.write_to(&mut *writer).await;
        cut_off.armed = false;
        if let Err(e) = written {
            let error = Error::new(ErrorCode::Transport, format!("write to {}: {e}", self.address));
            poison(&self.routing, error.clone());
            return Err(error);
        }
        Ok(())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        poison(
            &self.routing,
            Error::new(ErrorCode::Transport, format!("{}: connection closed", self.address)),
        );
    }
}

fn encode_error(api: ApiKey, version: i16, error: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Protocol, format!("encoding {api:?} v{version}: {error}"))
}

/// Removes a request's routing entry when it ends without a response.
struct PendingGuard<'a> {
    routing: &'a Mutex<Routing>,
    correlation_id: i32,
    armed: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.routing.locked().pending.remove(&self.correlation_id);
        }
    }
}

/// Poisons the connection when a write is dropped part way (its request
/// timed out): the broker would read the next frame as the rest of this one.
struct CutOffWrite<'a> {
    routing: &'a Mutex<Routing>,
    address: &'a str,
    armed: bool,
}

impl Drop for CutOffWrite<'_> {
    fn drop(&mut self) {
        if self.armed {
            let error = Error::new(
                ErrorCode::Transport,
                format!("write to {} was cut off by a timeout", self.address),
            );
            poison(self.routing, error);
        }
    }
}

fn poison(routing: &Mutex<Routing>, error: Error) {
    let mut routing = routing.locked();
    if routing.poisoned.is_none() {
        routing.poisoned = Some(error.clone());
    }
    for (_, pending) in routing.pending.drain() {
        let _ = pending.reply.send(Err(error.clone()));
    }
}

async fn read_responses(
    mut reader: OwnedReadHalf,
    routing: Arc<Mutex<Routing>>,
    address: String,
    max_response_bytes: usize,
) {
    let _unwinding = PoisonOnPanic(&routing, &address);
    let error = loop {
        match read_frame(&mut reader, &address, max_response_bytes).await {
            Ok(frame) => {
                if let Err(error) = route(&routing, frame, &address) {
                    break error;
                }
            }
            Err(error) => break error,
        }
    };
    poison(&routing, error);
}

/// Fails the requests waiting on a connection when its reader task unwinds
/// from a panic, at once instead of at their timeout.
struct PoisonOnPanic<'a>(&'a Mutex<Routing>, &'a str);

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            poison(
                self.0,
                Error::new(ErrorCode::Internal, format!("{}: the reader task failed", self.1)),
            );
        }
    }
}

async fn read_frame(reader: &mut OwnedReadHalf, address: &str, max_response_bytes: usize) -> Result<Bytes> {
    let length = reader
        .read_i32()
        .await
        .map_err(|e| Error::new(ErrorCode::Transport, format!("read from {address}: {e}")))?;
    if length < 4 || length as usize > max_response_bytes {
        return Err(Error::new(
            ErrorCode::Protocol,
            format!("{address} sent a frame of {length} bytes (limit {max_response_bytes})"),
        ));
    }
    // Read into the buffer's spare room (`read_buf`) rather than zeroing
    // it first: a fetch answer is megabytes, each written once by the read.
    let length = length as usize;
    let mut frame = BytesMut::with_capacity(length);
    let mut body = (&mut *reader).take(length as u64);
    while frame.len() < length {
        let read = body
            .read_buf(&mut frame)
            .await
            .map_err(|e| Error::new(ErrorCode::Transport, format!("read from {address}: {e}")))?;
        if read == 0 {
            return Err(Error::new(
                ErrorCode::Transport,
                format!("read from {address}: the connection closed inside a frame"),
            ));
        }
    }
    Ok(frame.freeze())
}

/// Hands one response frame to its waiter. A frame for no known request
/// (its waiter gave up) is dropped; a header that does not decode poisons.
fn route(routing: &Mutex<Routing>, mut frame: Bytes, address: &str) -> Result<()> {
    let correlation_id = i32::from_be_bytes(frame[..4].try_into().expect("frame has 4 bytes"));
    let Some(pending) = routing.locked().pending.remove(&correlation_id) else {
        return Ok(());
    };
    let header_version = pending.api.response_header_version(pending.version);
    let result = ResponseHeader::decode(&mut frame, header_version)
        .map(|_| frame)
        .map_err(|e| {
            Error::new(
                ErrorCode::Protocol,
                format!("{address}: bad {:?} response header: {e}", pending.api),
            )
        });
    let failed = result.as_ref().err().cloned();
    let _ = pending.reply.send(result);
    match failed {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::ProduceRequest;

    #[test]
    fn a_write_cut_off_by_its_timeout_poisons_the_connection() {
        // A broker that accepts and never reads: a frame larger than the
        // socket buffers stalls part way.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let accepted = std::thread::spawn(move || listener.accept().unwrap());
        let large =
            ProduceRequest::default().with_topic_data(vec![TopicProduceData::default().with_partition_data(vec![
                PartitionProduceData::default().with_records(Some(Bytes::from(vec![0; 64 << 20]))),
            ])]);
        crate::engine::block_on(async {
            let connection = Connection::connect(&address, "test", 1 << 20, Duration::from_secs(5))
                .await
                .unwrap();
            let error = connection
                .request(ApiKey::Produce, 3, &large, Duration::from_millis(300))
                .await
                .unwrap_err();
            assert_eq!(error.code(), ErrorCode::RequestTimedOut);
            assert!(connection.is_poisoned(), "half a frame is on the socket");
            let next = connection
                .request(
                    ApiKey::Produce,
                    3,
                    &ProduceRequest::default(),
                    Duration::from_millis(300),
                )
                .await
                .unwrap_err();
            assert_eq!(next.code(), ErrorCode::Transport, "{next}");
        })
        .unwrap();
        drop(accepted.join().unwrap());
    }
}
