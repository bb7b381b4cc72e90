//! Live progress while a run goes: a redrawn line on a terminal, plain periodic lines
//! otherwise (CI logs).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use broadside_engine::report::{render_plain_progress_line, render_progress_line, Progress};
use broadside_engine::runtime::Run;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Prints progress until [`ProgressPrinter::finish`].
pub struct ProgressPrinter {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl ProgressPrinter {
    /// Starts printing progress of `run` on stderr.
    pub fn start(run: &Run) -> Self {
        let recorder = run.recorder().clone();
        let planned = run.planned_duration();
        let offset = run.resumed_from();
        let began = std::time::Instant::now();
        Self::with(move || {
            let live = recorder.live();
            Some(Progress {
                elapsed: offset + began.elapsed(),
                planned,
                active_users: live.active_users,
                requests: live.requests,
                errors: live.ko,
                req_per_sec: live.last_second_requests as f64,
                p95: live.recent_p95,
            })
        })
    }

    /// Starts printing what `source` says (nothing while it says `None`) on stderr: every
    /// second on a terminal, redrawn in place, every five seconds as plain lines otherwise.
    pub fn with(mut source: impl FnMut() -> Option<Progress> + Send + 'static) -> Self {
        let stop = CancellationToken::new();
        let tty = std::io::stderr().is_terminal();
        let period = if tty {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(5)
        };
        let task = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tick.tick() => {}
                    }
                    let Some(p) = source() else { continue };
                    let mut err = std::io::stderr().lock();
                    if tty {
                        let width = terminal_width();
                        let _ = write!(err, "\r{}\x1b[K", render_progress_line(&p, width));
                    } else {
                        let _ = writeln!(err, "{}", render_plain_progress_line(&p));
                    }
                    let _ = err.flush();
                }
                if tty {
                    let _ = writeln!(std::io::stderr());
                }
            })
        };
        ProgressPrinter { stop, task }
    }

    /// Stops printing.
    pub async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}
