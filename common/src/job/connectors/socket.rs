//! The `socket` source connector (planning and checking), as Flink's
//! `socketTextStream`: options `host` (default localhost) and `port` (required); one
//! column `line STRING`, read by one subtask; no event time (no `watermark`).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use super::{PlanContext, PlannedSource, SourceConnector};
use crate::job::error::JobFileError;
use crate::job::spec::SourceSpec;
use crate::job::validate::{string, InvalidJobGraph};

/// The socket source's options in the JobGraph.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SocketSourceOptions {
    pub host: String,
    pub port: u16,
}

/// The `socket` source connector.
pub struct Socket;

impl SourceConnector for Socket {
    type Options = SocketSourceOptions;
    const NAME: &'static str = "socket";
    const OPTIONS: &'static [&'static str] = &["host", "port"];

    fn plan(&self, s: &SourceSpec, cx: &PlanContext<'_>) -> Result<PlannedSource<SocketSourceOptions>, JobFileError> {
        if s.watermark.is_some() {
            return Err(cx.error(cx.line, "watermark", "the socket source has no event-time column"));
        }
        let port = s.port.as_ref().ok_or_else(|| cx.error(cx.line, "port", "the socket connector needs a port"))?;
        Ok(PlannedSource {
            schema: Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, true)])),
            options: SocketSourceOptions { host: s.host.clone().unwrap_or_else(|| "localhost".into()), port: port.value },
            event_time: None,
        })
    }

    fn validate(&self, o: &SocketSourceOptions, what: &str, _outputs: usize) -> Result<(), InvalidJobGraph> {
        string(&format!("{what}'s host"), &o.host)
    }
}
