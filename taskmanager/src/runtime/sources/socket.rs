//! The socket source (Flink's socketTextStream): text lines from host:port, batched
//! every 100 ms or 8192 lines; the input ends when the peer closes the connection.
//! A reader task owns the socket and hands over whole batches through a channel, so
//! a task loop that stops waiting (a flush or timer fired) loses no line.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::StringArray;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use futures::StreamExt;
use rask_common::job::connectors::socket::SocketSourceOptions;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LinesCodec};

use super::{SourceContext, SourceFactory, SourceReader};
use crate::runtime::{StreamElement, TaskError};

const BATCH_LINES: usize = 8192;

pub struct SocketSource {
    host: String,
    port: u16,
    schema: SchemaRef,
    active: bool,
    lines: Option<mpsc::Receiver<Result<Vec<String>, String>>>,
    done: bool,
}

impl SocketSource {
    pub fn new(host: String, port: u16, schema: SchemaRef, subtask: u32) -> Self {
        // Like Flink's socketTextStream, one subtask reads; others end at once.
        Self { host, port, schema, active: subtask == 0, lines: None, done: false }
    }

    /// Connects and starts the reader task.
    async fn connect(&mut self) -> Result<(), TaskError> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| TaskError::operator("socket source", format!("cannot connect to {}:{}: {e}", self.host, self.port)))?;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            // A line longer than MAX_LINE_BYTES fails the task instead of growing.
            let mut lines = FramedRead::new(stream, LinesCodec::new_with_max_length(super::file::MAX_LINE_BYTES as usize));
            loop {
                let mut batch: Vec<String> = Vec::new();
                let deadline = tokio::time::sleep(Duration::from_millis(100));
                tokio::pin!(deadline);
                let mut ended = false;
                let mut bytes = 0usize;
                // Cut at BATCH_LINES lines or 8 MiB, whichever comes first.
                while batch.len() < BATCH_LINES && bytes < (8 << 20) {
                    tokio::select! {
                        line = lines.next() => match line {
                            Some(Ok(l)) => {
                                bytes += l.len();
                                batch.push(l);
                            }
                            None => {
                                ended = true;
                                break;
                            }
                            Some(Err(e)) => {
                                let _ = tx.send(Err(e.to_string())).await;
                                return;
                            }
                        },
                        _ = &mut deadline, if !batch.is_empty() => break,
                    }
                }
                if !batch.is_empty() && tx.send(Ok(batch)).await.is_err() {
                    return;
                }
                if ended {
                    return;
                }
            }
        });
        self.lines = Some(rx);
        Ok(())
    }

    /// Cancel-safe: a batch is either returned or still in the channel.
    pub async fn next(&mut self) -> Result<Vec<StreamElement>, TaskError> {
        if self.done {
            return Ok(vec![]);
        }
        if !self.active {
            self.done = true;
            return Ok(vec![StreamElement::EndOfInput]);
        }
        if self.lines.is_none() {
            self.connect().await?;
        }
        match self.lines.as_mut().expect("connected").recv().await {
            Some(Ok(batch)) => {
                Ok(vec![StreamElement::Batch(RecordBatch::try_new(self.schema.clone(), vec![Arc::new(StringArray::from(batch))])?)])
            }
            Some(Err(e)) => Err(TaskError::operator("socket source", format!("reading {}:{}: {e}", self.host, self.port))),
            None => {
                self.done = true;
                Ok(vec![StreamElement::EndOfInput])
            }
        }
    }
}

/// Registers the socket reader under `socket` (see [`super::SOURCES`]).
pub struct Factory;

impl SourceFactory for Factory {
    type Connector = rask_common::job::connectors::socket::Socket;

    fn build(&self, o: SocketSourceOptions, cx: &SourceContext<'_>) -> Result<Box<dyn SourceReader>, TaskError> {
        Ok(Box::new(SocketSource::new(o.host, o.port, cx.schema.clone(), cx.subtask)))
    }
}

/// A socket cannot be rewound: positions are a placeholder and restoring reads on.
impl SourceReader for SocketSource {
    fn next(&mut self) -> BoxFuture<'_, Result<Vec<StreamElement>, TaskError>> {
        Box::pin(SocketSource::next(self))
    }

    fn position(&self) -> Vec<u64> {
        vec![0]
    }

    fn restore(&mut self, _position: &[u64]) -> Result<(), TaskError> {
        Ok(())
    }

    fn restore_rescaled(&mut self, _positions: &[Vec<u64>]) -> Result<(), TaskError> {
        Ok(())
    }
}
