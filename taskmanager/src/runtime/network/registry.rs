//! The TaskManager's registry of result subpartitions, keyed by job, producer vertex
//! and subtask, and consumer subtask. A consumer may ask before the producer registers.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::runtime::{StreamElement, TaskError};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubpartitionKey {
    pub job_id: String,
    pub producer_vertex: String,
    pub producer_subtask: u32,
    pub consumer_subtask: u32,
    /// The deployment attempt: a restarted job never reads an old attempt's data.
    pub attempt: u32,
}

enum Entry {
    Ready(mpsc::Receiver<StreamElement>),
    Waiting(oneshot::Sender<mpsc::Receiver<StreamElement>>),
}

#[derive(Default)]
pub struct PartitionRegistry {
    entries: Mutex<HashMap<SubpartitionKey, Entry>>,
}

impl PartitionRegistry {
    /// Offers a subpartition's queue to its (single) consumer.
    pub fn register(&self, key: SubpartitionKey, rx: mpsc::Receiver<StreamElement>) {
        let mut entries = self.entries.lock();
        match entries.remove(&key) {
            Some(Entry::Waiting(waiter)) => {
                if let Err(rx) = waiter.send(rx) {
                    // The consumer gave up waiting; keep the queue for a retry.
                    entries.insert(key, Entry::Ready(rx));
                }
            }
            _ => {
                entries.insert(key, Entry::Ready(rx));
            }
        }
    }

    /// Takes a subpartition's queue, waiting up to `timeout` for its producer.
    pub async fn take(&self, key: SubpartitionKey, timeout: Duration) -> Result<mpsc::Receiver<StreamElement>, TaskError> {
        let waiter = {
            let mut entries = self.entries.lock();
            match entries.remove(&key) {
                Some(Entry::Ready(rx)) => return Ok(rx),
                Some(Entry::Waiting(_)) | None => {
                    let (tx, rx) = oneshot::channel();
                    entries.insert(key.clone(), Entry::Waiting(tx));
                    rx
                }
            }
        };
        match tokio::time::timeout(timeout, waiter).await {
            Ok(Ok(rx)) => Ok(rx),
            _ => Err(TaskError::Network(format!(
                "producer subtask {} of vertex {} did not register its result within {timeout:?}",
                key.producer_subtask, key.producer_vertex
            ))),
        }
    }

    /// Drops every queue of a job (cancellation, failure).
    pub fn release_job(&self, job_id: &str) {
        self.entries.lock().retain(|k, _| k.job_id != job_id);
    }
}
