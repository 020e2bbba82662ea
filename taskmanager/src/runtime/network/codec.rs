//! Arrow IPC framing for batches crossing the network: one IPC stream per
//! subpartition; the first frame carries the schema, each later frame one batch.

use arrow::buffer::Buffer;
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use crate::runtime::TaskError;

pub struct FrameEncoder {
    writer: Option<StreamWriter<Vec<u8>>>,
}

impl Default for FrameEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameEncoder {
    pub fn new() -> Self {
        Self { writer: None }
    }

    /// The bytes of one batch (with the schema before the first).
    pub fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, TaskError> {
        if self.writer.is_none() {
            self.writer = Some(StreamWriter::try_new(Vec::with_capacity(1 << 16), &batch.schema())?);
        }
        let writer = self.writer.as_mut().expect("set above");
        writer.write(batch)?;
        Ok(std::mem::take(writer.get_mut()))
    }
}

pub struct FrameDecoder {
    decoder: StreamDecoder,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self { decoder: StreamDecoder::new() }
    }

    /// Decodes one frame into the batches it completes.
    pub fn decode(&mut self, frame: Vec<u8>) -> Result<Vec<RecordBatch>, TaskError> {
        let mut buffer = Buffer::from_vec(frame);
        let mut out = Vec::new();
        while !buffer.is_empty() {
            match self.decoder.decode(&mut buffer)? {
                Some(batch) => out.push(batch),
                None => {
                    if buffer.is_empty() {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn batches_round_trip() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true), Field::new("b", DataType::Utf8, true)]));
        let b1 =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(StringArray::from(vec!["x", "y"]))])
                .unwrap();
        let b2 = b1.slice(1, 1);
        let mut enc = FrameEncoder::new();
        let mut dec = FrameDecoder::new();
        assert_eq!(dec.decode(enc.encode(&b1).unwrap()).unwrap(), vec![b1]);
        assert_eq!(dec.decode(enc.encode(&b2).unwrap()).unwrap(), vec![b2]);
    }
}
