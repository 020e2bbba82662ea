//! Operator state as bytes: record batches as one Arrow IPC stream, behind a small
//! header of i64 values (watermarks, positions).

use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use crate::runtime::TaskError;

/// Encodes header values and batches (all of `schema`).
pub fn encode(header: &[i64], schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, TaskError> {
    let mut out = Vec::new();
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    for v in header {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut writer = StreamWriter::try_new(out, schema)?;
    for b in batches {
        writer.write(b)?;
    }
    writer.finish()?;
    Ok(writer.into_inner()?)
}

/// Decodes what `encode` wrote.
pub fn decode(state: &[u8]) -> Result<(Vec<i64>, Vec<RecordBatch>), TaskError> {
    let bad = || TaskError::Network("corrupt operator state".into());
    let n = u32::from_le_bytes(state.get(..4).ok_or_else(bad)?.try_into().expect("4")) as usize;
    let mut header = Vec::with_capacity(n);
    for i in 0..n {
        let at = 4 + i * 8;
        header.push(i64::from_le_bytes(state.get(at..at + 8).ok_or_else(bad)?.try_into().expect("8")));
    }
    let mut buffer = Buffer::from_vec(state[4 + n * 8..].to_vec());
    let mut decoder = StreamDecoder::new();
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        match decoder.decode(&mut buffer)? {
            Some(b) => batches.push(b),
            None if buffer.is_empty() => break,
            None => {}
        }
    }
    Ok((header, batches))
}
