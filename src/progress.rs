//! Progress bars for long-running commands (journal rebuild and verify).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar on stderr that hides itself when stderr is not a terminal (scripts, cron, CI).
pub fn bar(what: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// A `(done, total)` callback, as the journal crate takes, that moves `bar`.
pub fn callback(bar: &ProgressBar) -> impl Fn(u64, u64) + '_ {
    move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    }
}
