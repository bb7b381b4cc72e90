//! Live progress while a run goes: an `indicatif` bar redrawn on a terminal (a spinner when
//! the planned duration is unknown), plain periodic lines otherwise (CI logs).

use std::io::IsTerminal;
use std::time::Duration;

use broadside_engine::report::{render_plain_progress_line, render_progress_message, Progress};
use broadside_engine::runtime::Run;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often a terminal's bar is redrawn.
const TERMINAL_PERIOD: Duration = Duration::from_secs(1);
/// How often a plain line is printed in logs.
const LOG_PERIOD: Duration = Duration::from_secs(5);

/// Prints progress until [`ProgressPrinter::finish`].
pub struct ProgressPrinter {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// Where progress goes: a bar on a terminal, lines in a log.
enum Output {
    Bar(ProgressBar),
    Lines,
}

impl Output {
    fn show(&self, p: &Progress) {
        match self {
            Output::Bar(bar) => {
                if let Some(planned) = p.planned {
                    if bar.length() != Some(planned.as_millis() as u64) {
                        bar.set_length(planned.as_millis() as u64);
                        bar.set_style(bar_style());
                    }
                }
                bar.set_position(p.elapsed.as_millis() as u64);
                bar.set_message(render_progress_message(p));
            }
            Output::Lines => eprintln!("{}", render_plain_progress_line(p)),
        }
    }

    fn finish(self) {
        if let Output::Bar(bar) = self {
            bar.finish();
        }
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("[{bar:30}] {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-")
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
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
        let (output, period) = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(spinner_style());
            (Output::Bar(bar), TERMINAL_PERIOD)
        } else {
            (Output::Lines, LOG_PERIOD)
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
                    if let Some(p) = source() {
                        output.show(&p);
                    }
                }
                output.finish();
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
