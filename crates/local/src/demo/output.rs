//! The demo's terminal output: one line at a time, times in seconds, paths relative to where it runs.

use std::io::Write;
use std::time::Duration;

pub(super) fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

pub(super) fn relative(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

pub(super) fn line(out: &mut impl Write, text: String) {
    // A closed stdout (`| head`) must not stop the deployment.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
