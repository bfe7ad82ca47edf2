//! The commands that fetch a folder whole and resumably, and prove it (on every listing page and
//! in the banner). Pure.

use super::{Page, display};
use crate::text::shell_quote;

/// The commands that fetch this directory resumably and check it: `wget -r` (rerun it to
/// resume), then `sha256sum -c` of every `SHA256SUMS` below. `--cut-dirs` makes wget save the
/// tree under the directory's own name (or in the current directory for the root); `-R
/// 'index.html*'` drops the listings once read; `--retry-on-http-error=503` waits for a
/// manifest that is still being computed instead of skipping it.
pub fn recipe(page: &Page<'_>) -> String {
    let origin = page.origin.unwrap_or("http://HOST");
    let url = format!("{origin}{}", page.url_path());
    let depth = page.segments.len();
    let cut = if depth > 1 {
        format!(" --cut-dirs={}", depth - 1)
    } else {
        String::new()
    };
    let into = page
        .segments
        .last()
        .map(|name| format!("cd {} && ", shell_quote(&display(name))))
        .unwrap_or_default();
    let fetch = format!(
        "wget -c -r -np -nH{cut} -R 'index.html*' --retry-on-http-error=503 {}",
        shell_quote(&url)
    );
    if !page.checksums {
        return fetch;
    }
    format!("{fetch}\n{into}find . -name SHA256SUMS -execdir sha256sum -c {{}} +")
}
