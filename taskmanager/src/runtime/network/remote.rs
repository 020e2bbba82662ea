//! Subpartitions over the network: the server side streams a registered queue as
//! `DataFrame`s; the client side reads a remote producer's subpartition into a local
//! bounded queue that the InputGate reads.

use std::time::Duration;

use rask_common::proto::data_frame::Kind;
use rask_common::proto::task_executor_client::TaskExecutorClient;
use rask_common::proto::{DataFrame, PartitionRequest};
use tokio::sync::mpsc;
use tonic::Status;

use super::codec::{FrameDecoder, FrameEncoder};
use super::QUEUE_CAPACITY;
use crate::runtime::StreamElement;

/// Turns a subpartition queue into the frames of a `ReadPartition` response.
pub fn serve(mut queue: mpsc::Receiver<StreamElement>) -> mpsc::Receiver<Result<DataFrame, Status>> {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    tokio::spawn(async move {
        let mut encoder = FrameEncoder::new();
        while let Some(element) = queue.recv().await {
            let (frame, last) = match element {
                StreamElement::Batch(b) => match encoder.encode(&b) {
                    Ok(bytes) => (Kind::ArrowIpc(bytes), false),
                    Err(e) => {
                        let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                        return;
                    }
                },
                StreamElement::Watermark(w) => (Kind::Watermark(w), false),
                StreamElement::Barrier(id) => (Kind::Barrier(id), false),
                StreamElement::EndOfInput => (Kind::EndOfInput(true), true),
            };
            if tx.send(Ok(DataFrame { kind: Some(frame) })).await.is_err() {
                return;
            }
            if last {
                return;
            }
        }
    });
    rx
}

/// Reads `request`'s subpartition from the TaskManager at `address` into a local
/// queue. Connection failures end the queue without an end marker, which fails the
/// consuming task.
pub fn read(
    address: String,
    tls: Option<std::sync::Arc<rask_common::security::InternalTls>>,
    request: PartitionRequest,
) -> mpsc::Receiver<StreamElement> {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    tokio::spawn(async move {
        let endpoint = match rask_common::security::tls::endpoint(&address, tls.as_deref()) {
            Ok(e) => e.connect_timeout(Duration::from_secs(5)).tcp_nodelay(true),
            Err(e) => {
                tracing::warn!("bad producer address {address}: {e}");
                return;
            }
        };
        let channel = match endpoint.connect().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("cannot reach producer TaskManager at {address}: {e}");
                return;
            }
        };
        let mut client = TaskExecutorClient::new(channel).max_decoding_message_size(256 << 20);
        let mut stream = match client.read_partition(request).await {
            Ok(r) => r.into_inner(),
            Err(e) => {
                tracing::warn!("producer TaskManager at {address} refused a partition request: {}", e.message());
                return;
            }
        };
        let mut decoder = FrameDecoder::new();
        loop {
            let frame = match stream.message().await {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!("partition stream from {address} broke: {}", e.message());
                    return;
                }
            };
            let elements = match frame.kind {
                Some(Kind::ArrowIpc(bytes)) => match decoder.decode(bytes) {
                    Ok(batches) => batches.into_iter().map(StreamElement::Batch).collect(),
                    Err(e) => {
                        tracing::warn!("undecodable frame from {address}: {e}");
                        return;
                    }
                },
                Some(Kind::Watermark(w)) => vec![StreamElement::Watermark(w)],
                Some(Kind::Barrier(id)) => vec![StreamElement::Barrier(id)],
                Some(Kind::EndOfInput(_)) => vec![StreamElement::EndOfInput],
                None => vec![],
            };
            for e in elements {
                if tx.send(e).await.is_err() {
                    return;
                }
            }
        }
    });
    rx
}
