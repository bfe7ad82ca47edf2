//! `--log-format json`: every log line one JSON object — `ts` (RFC 3339, UTC, milliseconds),
//! `level`, `target`, `msg`, and the event's fields at the top level. Access lines
//! (`rangeserve::access`) always carry `range`, `user_agent` and `resume_from`, null when
//! absent, so that a reader need not tell "absent" from "not logged".

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let line = line(
            humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            meta.level().as_str(),
            meta.target(),
            |visitor| event.record(visitor),
        );
        writeln!(writer, "{line}")
    }
}

/// One line's JSON text, from its parts and a function that feeds it the fields.
pub fn line(ts: String, level: &str, target: &str, fields: impl FnOnce(&mut Fields)) -> String {
    let mut map = Map::new();
    map.insert("ts".into(), Value::String(ts));
    map.insert("level".into(), Value::String(level.to_ascii_lowercase()));
    map.insert("target".into(), Value::String(target.to_string()));
    if target == crate::access_log::TARGET {
        for key in ["range", "user_agent", "resume_from"] {
            map.insert(key.into(), Value::Null);
        }
    }
    let mut visitor = Fields(map);
    fields(&mut visitor);
    Value::Object(visitor.0).to_string()
}

/// Collects an event's fields (`message` becomes `msg`).
pub struct Fields(Map<String, Value>);

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        let name = match field.name() {
            "message" => "msg",
            name => name,
        };
        self.0.insert(name.to_string(), value);
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_json_object_with_the_fixed_keys() {
        let text = line(
            "2026-12-02T10:00:00.000Z".into(),
            "INFO",
            "rangeserve::x",
            |_| {},
        );
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["ts"], "2026-12-02T10:00:00.000Z");
        assert_eq!(value["level"], "info");
        assert_eq!(value["target"], "rangeserve::x");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn access_lines_always_have_the_optional_keys() {
        let text = line("t".into(), "INFO", crate::access_log::TARGET, |_| {});
        let value: Value = serde_json::from_str(&text).unwrap();
        for key in ["range", "user_agent", "resume_from"] {
            assert!(value.get(key).is_some_and(Value::is_null), "{key}");
        }
    }
}
