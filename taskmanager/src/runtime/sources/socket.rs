//! The socket source (Flink's socketTextStream): text lines from host:port, batched
//! every 100 ms or 8192 lines; the input ends when the peer closes the connection.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::StringArray;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

use crate::runtime::{StreamElement, TaskError};

pub struct SocketSource {
    host: String,
    port: u16,
    schema: SchemaRef,
    active: bool,
    lines: Option<tokio::io::Lines<BufReader<TcpStream>>>,
    done: bool,
}

impl SocketSource {
    pub fn new(host: String, port: u16, schema: SchemaRef, subtask: u32) -> Self {
        // Like Flink's socketTextStream, one subtask reads; others end at once.
        Self { host, port, schema, active: subtask == 0, lines: None, done: false }
    }

    pub async fn next(&mut self) -> Result<Vec<StreamElement>, TaskError> {
        if self.done {
            return Ok(vec![]);
        }
        if !self.active {
            self.done = true;
            return Ok(vec![StreamElement::EndOfInput]);
        }
        if self.lines.is_none() {
            let stream = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| TaskError::operator("socket source", format!("cannot connect to {}:{}: {e}", self.host, self.port)))?;
            self.lines = Some(BufReader::new(stream).lines());
        }
        let lines = self.lines.as_mut().expect("connected");
        let mut batch: Vec<String> = Vec::new();
        let deadline = tokio::time::sleep(Duration::from_millis(100));
        tokio::pin!(deadline);
        let mut ended = false;
        while batch.len() < 8192 {
            tokio::select! {
                line = lines.next_line() => match line? {
                    Some(l) => batch.push(l),
                    None => {
                        ended = true;
                        break;
                    }
                },
                _ = &mut deadline, if !batch.is_empty() => break,
            }
        }
        let mut out = Vec::new();
        if !batch.is_empty() {
            out.push(StreamElement::Batch(RecordBatch::try_new(self.schema.clone(), vec![Arc::new(StringArray::from(batch))])?));
        }
        if ended {
            self.done = true;
            out.push(StreamElement::EndOfInput);
        }
        Ok(out)
    }
}
