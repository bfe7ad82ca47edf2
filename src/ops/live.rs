//! The live view and the progress lines: the thin I/O around [`super::transfers`].
//!
//! On a terminal, a status area under the log — one line per client and file, then a total
//! line — redrawn at most four times a second. Log lines go through [`LiveWriter`], which
//! erases the status area, writes the line and draws the area again under it, all under one
//! lock, so the two never interleave. Lines are cut to the terminal's width, so none wraps and
//! the area's height is always the number of lines drawn. Everything else written to the
//! terminal while the view is up (the banner's digest lines when the start-up hash ends, a
//! fatal error) goes through [`print_stdout`] and [`eprint`], which do the same: a write past
//! the view would leave the cursor where the next redraw erases the wrong lines, and the status
//! lines it should have erased would stay on the screen, frozen. Not on a terminal: every
//! interval, one log line per transfer that has run longer than the interval.

use std::io::{self, IsTerminal as _, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

use super::transfers::{self, Rates};

/// The view redraws at most this often.
const REDRAW: Duration = Duration::from_millis(250);

/// Whether transfers are tracked at all (set once at start-up, when a view or progress lines
/// are on).
static TRACKING: AtomicBool = AtomicBool::new(false);

/// Whether the status area is drawn on the terminal (set once at start-up).
static VIEW: AtomicBool = AtomicBool::new(false);

/// Whether responses should register their transfers.
pub fn tracking() -> bool {
    TRACKING.load(Ordering::Relaxed)
}

/// What the status area holds now.
#[derive(Default)]
struct Area {
    lines: Vec<String>,
}

static AREA: Mutex<Area> = Mutex::new(Area { lines: Vec::new() });

fn area() -> std::sync::MutexGuard<'static, Area> {
    AREA.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Cursor up over the drawn lines and clear to the end of the screen.
fn erase(out: &mut impl Write, drawn: usize) -> io::Result<()> {
    if drawn > 0 {
        write!(out, "\x1b[{drawn}A\r\x1b[J")?;
    }
    Ok(())
}

fn draw(out: &mut impl Write, lines: &[String]) -> io::Result<()> {
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The log's writer while the live view is on.
pub struct LiveWriter;

/// One log line, written (with the area redrawn under it) when dropped.
pub struct LineGuard {
    buf: Vec<u8>,
}

impl Write for LineGuard {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineGuard {
    fn drop(&mut self) {
        eprint_bytes(&self.buf);
    }
}

/// Writes `text` to stderr; with the view up, above the status area (which is redrawn under it).
pub fn eprint(text: &str) {
    eprint_bytes(text.as_bytes());
}

fn eprint_bytes(bytes: &[u8]) {
    let area = area();
    let mut err = io::stderr().lock();
    let _ = erase(&mut err, area.lines.len());
    let _ = err.write_all(bytes);
    let _ = draw(&mut err, &area.lines);
    let _ = err.flush();
}

/// Writes `text` to stdout; with the view up, above the status area: the area is erased from
/// stderr, the text written and flushed, and the area drawn again, under the area's lock (the
/// two streams are one terminal).
pub fn print_stdout(text: &str) {
    if !VIEW.load(Ordering::Relaxed) {
        let mut out = io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        return;
    }
    let area = area();
    let mut err = io::stderr().lock();
    let _ = erase(&mut err, area.lines.len());
    let _ = err.flush();
    {
        let mut out = io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
    let _ = draw(&mut err, &area.lines);
    let _ = err.flush();
}

impl<'a> MakeWriter<'a> for LiveWriter {
    type Writer = LineGuard;

    fn make_writer(&'a self) -> LineGuard {
        LineGuard { buf: Vec::new() }
    }
}

/// How transfers are shown.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// The live view on the terminal (stderr).
    Terminal,
    /// A progress line per long transfer every interval.
    Lines(Duration),
}

/// Decides the mode: the live view when stderr is a terminal (and it is not turned off and
/// the log is text), else progress lines (unless the interval is zero).
pub fn mode(no_progress: bool, json_log: bool, interval: Duration) -> Option<Mode> {
    if io::stderr().is_terminal() && !no_progress && !json_log {
        Some(Mode::Terminal)
    } else if interval.is_zero() {
        None
    } else {
        Some(Mode::Lines(interval))
    }
}

/// Tracks transfers without showing them (for the `/downloads` page).
pub fn track() {
    TRACKING.store(true, Ordering::Relaxed);
}

/// Starts tracking and the thread that shows it.
pub fn start(mode: Mode) -> io::Result<()> {
    TRACKING.store(true, Ordering::Relaxed);
    VIEW.store(matches!(mode, Mode::Terminal), Ordering::Relaxed);
    std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || match mode {
            Mode::Terminal => terminal_loop(),
            Mode::Lines(interval) => lines_loop(interval),
        })
        .map(|_| ())
}

fn width() -> usize {
    rustix::termios::tcgetwinsize(io::stderr())
        .map(|w| usize::from(w.ws_col))
        .ok()
        .filter(|&w| w > 0)
        .unwrap_or(80)
        .saturating_sub(1)
}

fn terminal_loop() {
    let mut rates = Rates::default();
    loop {
        std::thread::sleep(REDRAW);
        let rows = transfers::rows(&transfers::registry().snapshot());
        let rates_now = rates.update(&rows, Instant::now());
        let width = width();
        let mut lines: Vec<String> = rows
            .iter()
            .zip(&rates_now)
            .map(|(row, &rate)| transfers::render_row(row, rate, width))
            .collect();
        if !rows.is_empty() {
            let in_flight: u64 = rows.iter().map(|r| r.sent).sum();
            let sent = super::metrics::body_bytes() + in_flight;
            lines.push(transfers::render_total(&rows, &rates_now, sent, width));
        }
        let mut area = area();
        if area.lines == lines {
            continue;
        }
        let mut err = io::stderr().lock();
        let _ = erase(&mut err, area.lines.len());
        let _ = draw(&mut err, &lines);
        let _ = err.flush();
        area.lines = lines;
    }
}

fn lines_loop(interval: Duration) {
    let mut rates = Rates::default();
    let mut last = Instant::now();
    loop {
        // Sampled every second so the rate is recent when the line is due.
        std::thread::sleep(Duration::from_secs(1).min(interval));
        let now = Instant::now();
        let rows = transfers::rows(&transfers::registry().snapshot());
        let rates_now = rates.update(&rows, now);
        if now.duration_since(last) < interval {
            continue;
        }
        last = now;
        for (row, rate) in rows.iter().zip(rates_now) {
            if now.duration_since(row.started) >= interval {
                tracing::info!(target: "rangeserve::progress", "{}", transfers::progress_line(row, rate));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erasing_moves_up_over_what_was_drawn_and_clears_below() {
        let mut out = Vec::new();
        erase(&mut out, 3).unwrap();
        assert_eq!(out, b"\x1b[3A\r\x1b[J");
        let mut none = Vec::new();
        erase(&mut none, 0).unwrap();
        assert!(none.is_empty());
    }
}
