//! InputGate: merges a consumer subtask's input channels, aligns watermarks (the
//! minimum over channels still open) and ends when every channel has ended.

use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{StreamExt, StreamMap};

use crate::runtime::StreamElement;
use tokio::sync::mpsc;

pub struct InputGate {
    channels: StreamMap<usize, ReceiverStream<StreamElement>>,
    watermarks: Vec<i64>,
    ended: Vec<bool>,
    emitted: i64,
    finished: bool,
}

impl InputGate {
    pub fn new(receivers: Vec<mpsc::Receiver<StreamElement>>) -> Self {
        let n = receivers.len();
        let mut channels = StreamMap::new();
        for (i, rx) in receivers.into_iter().enumerate() {
            channels.insert(i, ReceiverStream::new(rx));
        }
        Self { channels, watermarks: vec![i64::MIN; n], ended: vec![false; n], emitted: i64::MIN, finished: false }
    }

    /// The next element for the operator chain; `EndOfInput` once, then `None`.
    pub async fn next(&mut self) -> Option<StreamElement> {
        loop {
            if self.finished {
                return None;
            }
            if self.ended.iter().all(|e| *e) {
                self.finished = true;
                return Some(StreamElement::EndOfInput);
            }
            match self.channels.next().await {
                Some((_, StreamElement::Batch(b))) => return Some(StreamElement::Batch(b)),
                Some((ch, StreamElement::Watermark(w))) => {
                    self.watermarks[ch] = self.watermarks[ch].max(w);
                    if let Some(w) = self.advance() {
                        return Some(StreamElement::Watermark(w));
                    }
                }
                Some((ch, StreamElement::EndOfInput)) => {
                    self.ended[ch] = true;
                    self.channels.remove(&ch);
                    if self.ended.iter().any(|e| !e) {
                        if let Some(w) = self.advance() {
                            return Some(StreamElement::Watermark(w));
                        }
                    }
                }
                None => {
                    // Every remaining channel closed without an end marker: the producers
                    // went away (cancellation); treat as ended.
                    self.finished = true;
                    return None;
                }
            }
        }
    }

    fn advance(&mut self) -> Option<i64> {
        let min = self.watermarks.iter().zip(&self.ended).filter(|(_, ended)| !**ended).map(|(w, _)| *w).min()?;
        if min > self.emitted && min != i64::MIN {
            self.emitted = min;
            Some(min)
        } else {
            None
        }
    }
}
