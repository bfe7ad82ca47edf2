//! `--qr`: a URL as a QR code in terminal block characters, two modules per character cell
//! (upper and lower half blocks), light modules drawn as blocks so that it reads on a dark
//! terminal background (and phone scanners read inverted codes too), with the quiet zone.

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

/// The QR code of `text`, one line per two module rows; `None` if it does not fit a QR code.
pub fn render(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// Reads a rendering back into modules (`true` = dark), for tests: a block half is light.
pub fn modules(rendered: &str) -> Vec<Vec<bool>> {
    let mut rows = Vec::new();
    for line in rendered.lines() {
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for c in line.chars() {
            let (upper_light, lower_light) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                _ => (false, false),
            };
            top.push(!upper_light);
            bottom.push(!lower_light);
        }
        rows.push(top);
        rows.push(bottom);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes with rqrr, four pixels per module.
    fn decode(rendered: &str) -> String {
        let grid = modules(rendered);
        let (h, w) = (grid.len(), grid[0].len());
        let scale = 4;
        let mut image =
            rqrr::PreparedImage::prepare_from_greyscale(w * scale, h * scale, |x, y| {
                if grid[y / scale][x / scale] { 0 } else { 255 }
            });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code");
        grids[0].decode().unwrap().1
    }

    #[test]
    fn a_url_round_trips_through_the_terminal_rendering() {
        for url in [
            "http://10.1.2.3:8000/love.rmvb",
            "https://[2001:db8::7]:8443/season%201/",
            "http://192.168.100.200:65535/a/very/long/path/with%20spaces/and-more-segments/file.tar",
        ] {
            let rendered = render(url).unwrap();
            assert_eq!(decode(&rendered), url);
        }
    }

    #[test]
    fn the_rendering_is_only_blocks_and_spaces() {
        let rendered = render("http://h:1/").unwrap();
        assert!(
            rendered
                .chars()
                .all(|c| matches!(c, '█' | '▀' | '▄' | ' ' | '\n'))
        );
    }
}
