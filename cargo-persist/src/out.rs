//! Output: tables and notes for a person (coloured on a terminal only), JSON for scripts,
//! progress on stderr while long work runs.

use std::cell::Cell;
use std::io::{IsTerminal as _, Write as _};

use crate::ColorChoice;
use crate::error::CliError;

/// Where and how a command speaks.
pub struct Out {
    json: bool,
    color: bool,
    progress: bool,
    /// A progress line is on stderr, to be cleared before anything else is written.
    dirty: Cell<bool>,
    /// The command printed its JSON document: stdout holds one document, so a failure after
    /// it (which the document reports) adds none.
    documented: Cell<bool>,
}

/// A colour for a word.
#[derive(Clone, Copy)]
pub enum Paint {
    /// Headings and names.
    Bold,
    /// Done, alive.
    Green,
    /// Kept, stuck: look at it.
    Yellow,
    /// Failed.
    Red,
    /// Less important.
    Dim,
}

impl Out {
    /// Colour on a terminal unless `NO_COLOR`, or as asked; progress on a terminal's stderr.
    pub fn new(json: bool, choice: ColorChoice) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !json && !no_color && std::io::stdout().is_terminal(),
        };
        Out {
            json,
            color,
            progress: std::io::stderr().is_terminal(),
            dirty: Cell::new(false),
            documented: Cell::new(false),
        }
    }

    /// Whether stdout takes JSON.
    pub fn json(&self) -> bool {
        self.json
    }

    /// `text` in `paint`, if colours are on.
    pub fn paint(&self, text: &str, paint: Paint) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match paint {
            Paint::Bold => "1",
            Paint::Green => "32",
            Paint::Yellow => "33",
            Paint::Red => "31",
            Paint::Dim => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// One line on stdout, for a person (nothing under `--json`).
    pub fn line(&self, text: &str) {
        if !self.json {
            self.clear();
            println!("{text}");
        }
    }

    /// The JSON document of a command, on stdout (only under `--json`).
    pub fn document(&self, value: &serde_json::Value) {
        if self.json {
            self.clear();
            self.documented.set(true);
            println!(
                "{}",
                serde_json::to_string_pretty(value).expect("JSON values print")
            );
        }
    }

    /// A note on stderr: what happens, for a person, whatever the format.
    pub fn note(&self, text: &str) {
        self.clear();
        eprintln!("{text}");
    }

    /// Progress of long work: one line rewritten in place on a terminal; nothing elsewhere.
    pub fn progress(&self, text: &str) {
        if self.progress {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{text}");
            let _ = err.flush();
            self.dirty.set(true);
        }
    }

    /// Clears a progress line.
    pub fn clear(&self) {
        if self.dirty.replace(false) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }

    /// The failure of a command, on stderr (and as JSON on stdout under `--json`).
    pub fn error(&self, error: &CliError) {
        self.clear();
        if self.json && !self.documented.get() {
            self.document(&serde_json::json!({
                "error": { "kind": error.kind(), "message": error.to_string() }
            }));
        }
        eprintln!("{} {error}", self.paint("error:", Paint::Red));
    }
}

/// Bytes as a person reads them.
pub fn size(bytes: Option<u64>) -> String {
    match bytes {
        None => "gone".to_owned(),
        Some(b) if b < 1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        Some(b) => format!("{:.1} MB", b as f64 / 1e6),
    }
}

/// How long ago `ms` (epoch milliseconds) was.
pub fn ago(ms: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(ms);
    let secs = (now - ms).max(0) / 1000;
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86400 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86400),
    }
}
