//! Progress bars on stderr, drawn only when stderr is a terminal (indicatif's rule), so
//! that piped and scripted runs print only their results and errors.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `length` steps (unknown: `None`) drawn with indicatif's `template`.
pub(crate) fn bar(length: Option<u64>, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
