//! A listing as parts for a response to render on demand (see `tree::rendered`): its head, a
//! row per entry, its tail — HTML or JSON. It owns what the page shows (the sorted entries are
//! most of it), never the rendered page.

use super::{Entry, Page, html, json};
use crate::tree::rendered::Parts;

/// What a listing page shows, owned.
#[derive(Debug)]
pub struct Listing {
    pub segments: Vec<Vec<u8>>,
    pub origin: Option<String>,
    /// Sorted.
    pub entries: Vec<Entry>,
    pub checksums: bool,
    pub archive_name: Option<Vec<u8>>,
    pub mount: String,
    /// JSON, else HTML.
    pub json: bool,
    /// The directory's URL path, made once (every JSON row's `url` starts with it).
    base: String,
}

impl Listing {
    /// A listing of the sorted `entries` of the directory at `segments`, as the page shows it.
    pub fn new(
        segments: Vec<Vec<u8>>,
        origin: Option<String>,
        entries: Vec<Entry>,
        checksums: bool,
        archive_name: Option<Vec<u8>>,
        mount: String,
        json: bool,
    ) -> Listing {
        let mut listing = Listing {
            segments,
            origin,
            entries,
            checksums,
            archive_name,
            mount,
            json,
            base: String::new(),
        };
        listing.base = listing.page().url_path();
        listing
    }

    pub fn page(&self) -> Page<'_> {
        Page {
            segments: &self.segments,
            origin: self.origin.as_deref(),
            entries: &self.entries,
            checksums: self.checksums,
            archive_name: self.archive_name.as_deref(),
            mount: &self.mount,
        }
    }
}

impl Parts for Listing {
    fn count(&self) -> usize {
        self.entries.len() + 2
    }

    fn render(&self, index: usize, out: &mut String) {
        let page = self.page();
        let last = self.entries.len() + 1;
        match (self.json, index) {
            (false, 0) => html::head(&page, out),
            (false, i) if i == last => html::tail(&page, out),
            (false, i) => html::row_into(&self.entries[i - 1], self.checksums, out),
            (true, 0) => json::head(&page, out),
            (true, i) if i == last => json::tail(out),
            (true, i) => json::row_into(
                &self.base,
                &self.entries[i - 1],
                self.checksums,
                i == 1,
                out,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::listing::{Kind, html, json};
    use crate::tree::rendered::Rendered;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_parts_make_the_whole_page_in_both_forms() {
        let entries: Vec<Entry> = (0..50)
            .map(|i| Entry {
                name: format!("f <{i}> & \"x\"").into_bytes(),
                kind: if i % 7 == 0 {
                    Kind::Dir
                } else {
                    Kind::File { size: i * 1000 }
                },
                modified: UNIX_EPOCH + Duration::from_secs(1_700_000_000 + i),
                sha256: (i % 3 == 0).then_some([i as u8; 32]),
                magnet: crate::tree::listing::Magnet::None,
            })
            .collect();
        for json_form in [false, true] {
            let listing = Listing::new(
                vec![b"sub dir".to_vec()],
                Some("http://127.0.0.1:8000".into()),
                entries.clone(),
                true,
                Some(b"sub dir".to_vec()),
                String::new(),
                json_form,
            );
            let whole = match json_form {
                true => json(&listing.page()),
                false => html(&listing.page()),
            };
            let doc = Rendered::new(Box::new(listing));
            assert_eq!(doc.len(), whole.len() as u64);
            assert_eq!(&doc.bytes(0..doc.len())[..], whole.as_bytes());
            assert_eq!(&doc.bytes(100..2000)[..], &whole.as_bytes()[100..2000]);
        }
        let empty = Listing::new(vec![], None, vec![], false, None, String::new(), true);
        let whole = json(&empty.page());
        assert!(
            serde_json::from_str::<serde_json::Value>(&whole).is_ok(),
            "{whole}"
        );
        assert_eq!(
            &Rendered::new(Box::new(empty)).bytes(0..1000)[..],
            whole.as_bytes()
        );
    }
}
