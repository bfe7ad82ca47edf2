//! The text log's field formatter: every field of every event and span — the message, and the
//! names, paths and header values formatted into it — has its control characters escaped (see
//! `text::Escaped`) before it reaches the line. A decoded request path with `%0d%0a` in it, or
//! a file named `ESC[2J`, so stays one visible run of text on one line: it can neither end the
//! line (and forge the next) nor drive the terminal. The event formatter's own colours are
//! written around the fields, not through them, so they survive. (`--log-format json` escapes
//! as JSON instead: see `json_log`.)

use std::fmt;

use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};

use crate::text::Escaped;

/// [`DefaultFields`], escaped.
#[derive(Debug, Default)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut escaping = Escaping(&mut writer);
        DefaultFields::new().format_fields(Writer::new(&mut escaping), fields)
    }
}

/// Writes into the line with control characters escaped.
struct Escaping<'a, 'writer>(&'a mut Writer<'writer>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write!(self.0, "{}", Escaped(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_path_with_a_line_break_or_an_escape_stays_on_its_one_line() {
        let out = Captured::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(true)
            .fmt_fields(EscapedFields)
            .finish();
        let forged =
            "/locked/x\r\n2026-01-01T00:00:00Z  INFO rangeserve::access: 203.0.113.9 \u{1b}[2J";
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(peer = "a\nb", "cannot open '{forged}': permission denied");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "one line: {text:?}");
        assert!(text.ends_with('\n'));
        assert!(
            text.contains(r"/locked/x\r\n2026-01-01T00:00:00Z  INFO"),
            "{text:?}"
        );
        assert!(text.contains(r"\x1b[2J"), "{text:?}");
        assert!(!text.contains("\u{1b}[2J"), "{text:?}");
        assert!(text.contains(r"a\nb"), "{text:?}");
        assert!(
            text.contains("\u{1b}["),
            "the level keeps its colour: {text:?}"
        );
    }
}
