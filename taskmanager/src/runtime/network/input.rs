//! InputGate: merges a consumer subtask's input channels, aligns watermarks (the
//! minimum over channels still open), aligns checkpoint barriers (a channel that has
//! delivered barrier n is held until every open channel has; then barrier n goes on
//! once), and ends when every channel has ended.

use std::collections::HashMap;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{StreamExt, StreamMap};

use crate::runtime::StreamElement;

pub struct InputGate {
    channels: StreamMap<usize, ReceiverStream<StreamElement>>,
    watermarks: Vec<i64>,
    ended: Vec<bool>,
    emitted: i64,
    finished: bool,
    /// The barrier being aligned, and the channels held until it is complete.
    aligning: Option<u64>,
    blocked: HashMap<usize, ReceiverStream<StreamElement>>,
}

impl InputGate {
    pub fn new(receivers: Vec<mpsc::Receiver<StreamElement>>) -> Self {
        let n = receivers.len();
        let mut channels = StreamMap::new();
        for (i, rx) in receivers.into_iter().enumerate() {
            channels.insert(i, ReceiverStream::new(rx));
        }
        Self {
            channels,
            watermarks: vec![i64::MIN; n],
            ended: vec![false; n],
            emitted: i64::MIN,
            finished: false,
            aligning: None,
            blocked: HashMap::new(),
        }
    }

    /// The next element for the operator chain; `EndOfInput` once, then `None`.
    pub async fn next(&mut self) -> Option<StreamElement> {
        loop {
            if self.finished {
                return None;
            }
            if let Some(id) = self.barrier_complete() {
                return Some(StreamElement::Barrier(id));
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
                Some((ch, StreamElement::Barrier(id))) => {
                    if self.aligning.is_some_and(|current| id > current) {
                        // A newer barrier overtook an unfinished alignment (that
                        // checkpoint was abandoned): start over with this one.
                        self.release_blocked();
                    }
                    self.aligning = Some(id);
                    if let Some(stream) = self.channels.remove(&ch) {
                        self.blocked.insert(ch, stream);
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
                    if !self.blocked.is_empty() {
                        // Only held channels are left: the alignment is complete.
                        continue;
                    }
                    // Every remaining channel closed without an end marker: the
                    // producers went away.
                    self.finished = true;
                    return None;
                }
            }
        }
    }

    /// When every open channel has delivered the barrier being aligned, releases them
    /// and returns its id.
    fn barrier_complete(&mut self) -> Option<u64> {
        let id = self.aligning?;
        let waiting = (0..self.ended.len()).any(|ch| !self.ended[ch] && !self.blocked.contains_key(&ch));
        if waiting {
            return None;
        }
        self.release_blocked();
        Some(id)
    }

    fn release_blocked(&mut self) {
        for (ch, stream) in self.blocked.drain() {
            self.channels.insert(ch, stream);
        }
        self.aligning = None;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn barriers_align_across_channels() {
        let (tx1, rx1) = mpsc::channel(8);
        let (tx2, rx2) = mpsc::channel(8);
        let mut gate = InputGate::new(vec![rx1, rx2]);
        tx1.send(StreamElement::Barrier(1)).await.unwrap();
        tx1.send(StreamElement::Watermark(5)).await.unwrap();
        tx2.send(StreamElement::Watermark(3)).await.unwrap();
        tx2.send(StreamElement::Barrier(1)).await.unwrap();
        // Channel 1 is held after its barrier: its watermark 5 waits behind it.
        assert!(matches!(gate.next().await, Some(StreamElement::Barrier(1))));
        let mut watermarks = Vec::new();
        tx1.send(StreamElement::EndOfInput).await.unwrap();
        tx2.send(StreamElement::EndOfInput).await.unwrap();
        while let Some(e) = gate.next().await {
            match e {
                StreamElement::Watermark(w) => watermarks.push(w),
                StreamElement::EndOfInput => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        // Watermarks only advance; which of 3 and 5 shows depends on arrival order.
        assert!(watermarks.windows(2).all(|w| w[0] < w[1]) && !watermarks.is_empty(), "{watermarks:?}");
    }
}
