//! Progress for people: a bar on a terminal, plain lines otherwise; Ctrl-C cancels.

use cairn_app::Step;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set when the user presses Ctrl-C; long work stops at its next step.
pub fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // A second handler cannot be installed; the first one's flag stays in charge.
    let _ = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ncancelling after the current step (Ctrl-C again to quit at once)");
    });
    flag
}

pub struct Bar {
    bar: Option<ProgressBar>,
    plain: bool,
    last_stage: String,
    last_pct: u64,
}

impl Bar {
    /// A bar on stderr when it is a terminal; plain progress lines when it is not.
    pub fn new(_json: bool, _what: &str) -> Bar {
        let tty = std::io::stderr().is_terminal();
        Bar {
            bar: None,
            plain: !tty,
            last_stage: String::new(),
            last_pct: u64::MAX,
        }
    }

    pub fn step(&mut self, step: &Step) {
        if self.plain {
            let pct = step.total.map(|t| step.done * 10 / t.max(1)).unwrap_or(0);
            if step.stage != self.last_stage || step.stage == "demo" || pct != self.last_pct {
                match step.total {
                    Some(t) if step.stage != "demo" => {
                        eprintln!("[{}] {}/{} {}", step.stage, step.done, t, step.message)
                    }
                    _ => eprintln!("[{}] {}", step.stage, step.message),
                }
                self.last_pct = pct;
            }
            self.last_stage = step.stage.clone();
            return;
        }
        if step.stage != self.last_stage {
            if let Some(b) = self.bar.take() {
                b.finish_and_clear();
            }
            let bar = match step.total {
                Some(t) if step.stage != "demo" => {
                    let b = ProgressBar::new(t);
                    b.set_style(
                        ProgressStyle::with_template("{prefix:>6} [{bar:30}] {pos}/{len} {msg}")
                            .expect("template")
                            .progress_chars("=> "),
                    );
                    b
                }
                _ => ProgressBar::new_spinner(),
            };
            bar.set_prefix(step.stage.clone());
            self.bar = Some(bar);
            self.last_stage = step.stage.clone();
        }
        if let Some(b) = &self.bar {
            if step.stage == "demo" {
                b.println(format!("• {}", step.message));
            } else {
                b.set_position(step.done);
            }
            b.set_message(step.message.clone());
        }
    }

    /// An observer that draws each step and cancels once `cancel` is set.
    pub fn observer<'a>(
        &'a mut self,
        cancel: &'a AtomicBool,
    ) -> impl FnMut(&Step) -> ControlFlow<()> + 'a {
        move |step: &Step| {
            self.step(step);
            if cancel.load(Ordering::SeqCst) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }

    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
