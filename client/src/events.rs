//! Server-Sent Events from a master (`eventsource-stream` parses them), raw ([`EventStream`])
//! or as the live stream's typed events ([`LiveStream`]).

use std::pin::Pin;
use std::time::Duration;

use broadside_api::{EndEvent, LogEvent, Problem, ProgressEvent};
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};

use crate::{read_reply, start, Client, ClientError};

/// Longest silence of an event stream before it counts as broken: servers send a keep-alive
/// comment every 15 s, so a stream silent for much longer comes from a paused or cut-off
/// master.
pub const STREAM_SILENCE: Duration = Duration::from_secs(45);

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `event:` (`message` for unnamed events).
    pub event: String,
    /// `data:` lines joined with newlines.
    pub data: String,
}

type Events = Pin<Box<dyn Stream<Item = Event> + Send>>;

/// A stream of Server-Sent Events from one master.
pub struct EventStream {
    events: Events,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl EventStream {
    /// The next event; `None` when the server ended the stream, the connection broke or no
    /// byte (not even a keep-alive comment) arrived for [`STREAM_SILENCE`].
    pub async fn next(&mut self) -> Option<Event> {
        self.events.next().await
    }
}

/// One event of a job's live stream.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// Totals, the seconds that changed, every task.
    Progress(Box<ProgressEvent>),
    /// A task log line.
    Log(LogEvent),
    /// The job is finished and everything was sent.
    End(EndEvent),
    /// The job cannot be read any more.
    Error(Problem),
}

/// A job's live stream (`GET /jobs/{id}/live`) from one master.
#[derive(Debug)]
pub struct LiveStream {
    events: EventStream,
}

impl LiveStream {
    /// The next event; `None` when the stream ended or broke (open it again to resume: the
    /// first event of a new stream carries everything so far). Events of unknown names are
    /// skipped; an event that does not decode ends the stream.
    pub async fn next(&mut self) -> Option<LiveEvent> {
        loop {
            let event = self.events.next().await?;
            let data = event.data.as_bytes();
            let decoded = match event.event.as_str() {
                "progress" => {
                    serde_json::from_slice(data).map(|p| LiveEvent::Progress(Box::new(p)))
                }
                "log" => serde_json::from_slice(data).map(LiveEvent::Log),
                "end" => serde_json::from_slice(data).map(LiveEvent::End),
                "error" => serde_json::from_slice(data).map(LiveEvent::Error),
                _ => continue,
            };
            return decoded.ok();
        }
    }
}

impl Client {
    /// Opens an event stream (`GET path`, `text/event-stream`) on the first master that
    /// answers 200.
    pub async fn events(&self, path: &str) -> Result<EventStream, ClientError> {
        let mut last = String::from("no master address given");
        let headers = self.with_authorization(&[("accept", "text/event-stream")]);
        for (_, base) in self.rotation() {
            let opened = tokio::time::timeout(
                self.timeout,
                start(&self.http, base, "GET", path, &headers, bytes::Bytes::new()),
            )
            .await
            .map_err(|_| format!("no answer within {:?}", self.timeout))
            .and_then(|r| r);
            let response = match opened {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{base}: {e}");
                    continue;
                }
            };
            if response.status().as_u16() == 200 {
                // Silence (no byte, not even the server's keep-alive comments), a transport
                // error or a parse error ends the stream.
                let bytes = futures::stream::unfold(response.bytes_stream(), |mut body| async {
                    let chunk = tokio::time::timeout(STREAM_SILENCE, body.next())
                        .await
                        .ok()??
                        .ok()?;
                    Some((Ok::<_, std::convert::Infallible>(chunk), body))
                });
                let events = Box::pin(bytes).eventsource().scan((), |_, e| {
                    std::future::ready(e.ok().map(|e| Event {
                        event: e.event,
                        data: e.data,
                    }))
                });
                return Ok(EventStream {
                    events: Box::pin(events),
                });
            }
            let reply = tokio::time::timeout(self.timeout, read_reply(response))
                .await
                .map_err(|_| "body timed out".to_owned())
                .and_then(|r| r);
            match reply {
                Ok(reply) if reply.status != 503 => return Err(ClientError::from_reply(reply)),
                Ok(reply) => last = format!("{base}: {}", reply.detail()),
                Err(e) => last = format!("{base}: {e}"),
            }
        }
        Err(self.unreachable(last))
    }

    /// Opens the live stream of job `id`.
    pub async fn live(&self, id: u64) -> Result<LiveStream, ClientError> {
        let events = self.events(&format!("/api/v1/jobs/{id}/live")).await?;
        Ok(LiveStream { events })
    }
}
