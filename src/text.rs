//! Text for people and shells, used by every layer that prints: sizes in binary units, single-
//! quoted shell words, indentation, and control characters made visible. Pure; imports nothing
//! from the crate.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` is a control character: C0 (U+0000–U+001F), DEL (U+007F) or C1 (U+0080–U+009F).
/// Written raw, one ends a log line early (a forged line after it) or drives the terminal
/// (`ESC [2J` clears it; a C1 `CSI` does the same on some terminals).
pub fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// `text` as it is written to a log, a terminal or the banner: each control character (see
/// [`is_control`]) as an escape — `\t`, `\n`, `\r`, else `\xHH` for C0 and DEL and `\u{HH}`
/// for C1 — so a name or a path is always one run of visible text on one line. Everything else,
/// backslashes included, is kept as it is. Borrowed when there is nothing to escape.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(may_be_control) || !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(Escaped(text).to_string())
}

/// Displays its text with control characters escaped, as [`escape_controls`] does (for
/// `format!` and writers, without a copy).
pub struct Escaped<'a>(pub &'a str);

/// Whether a byte of UTF-8 may begin a control character: a C0 byte, DEL, or 0xC2 (the lead
/// byte of U+0080–U+00BF, C1 among them). A fast byte scan, checked exactly only where it hits.
fn may_be_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f || b == 0xc2
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Most text has nothing to escape: one pass over the bytes, one write.
        if !self.0.bytes().any(may_be_control) {
            return f.write_str(self.0);
        }
        let mut rest = self.0;
        while let Some(at) = rest.find(is_control) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or('\0');
            match c {
                '\t' => f.write_str("\\t")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                c if (c as u32) < 0x80 => write!(f, "\\x{:02x}", c as u32)?,
                c => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// A size in binary units as `ls -h` and browsers show it: `999 B`, `1.5 KiB`, `12.0 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A single-quoted shell word: pasted into a POSIX shell, it is `text` exactly.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Each line of `lines` indented by two spaces (no newline after the last).
pub fn indent(lines: &str) -> String {
    lines
        .lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text`'s words (any whitespace, line breaks included, separates them) in lines of at most
/// `width` characters (a longer word gets a line of its own).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn control_characters_are_escaped_and_nothing_else_is_touched() {
        assert_eq!(escape_controls("plain/ü name\\x"), "plain/ü name\\x");
        assert!(matches!(escape_controls("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\r\nb\tc\u{1b}[2J\u{0}\u{7f}\u{9b}\u{85}d"),
            "a\\r\\nb\\tc\\x1b[2J\\x00\\x7f\\u{9b}\\u{85}d"
        );
        assert_eq!(
            escape_controls("\u{a0}é"),
            "\u{a0}é",
            "U+00A0 and above are text"
        );
    }

    proptest! {
        #[test]
        fn escaped_text_has_no_control_character_and_keeps_every_other_one(text in any::<String>()) {
            let escaped = escape_controls(&text);
            prop_assert!(!escaped.chars().any(is_control));
            let kept: String = text.chars().filter(|&c| !is_control(c)).collect();
            let visible: String = escaped.chars().filter(|&c| !is_control(c)).collect();
            prop_assert!(visible.len() >= kept.len());
            prop_assert_eq!(text.chars().any(is_control), matches!(escaped, Cow::Owned(_)));
        }
    }

    #[test]
    fn sizes_are_in_binary_units_with_one_decimal() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(200 << 20), "200.0 MiB");
        assert_eq!(human_size(5 << 30), "5.0 GiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn shell_words_survive_quotes() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(indent("a\nb"), "  a\n  b");
    }

    #[test]
    fn wrap_keeps_words_whole_within_the_width() {
        assert_eq!(wrap("a bb  ccc\ndd", 6), ["a bb", "ccc dd"]);
        assert_eq!(wrap("longerthanwidth x", 4), ["longerthanwidth", "x"]);
        assert!(wrap("", 4).is_empty());
    }
}
