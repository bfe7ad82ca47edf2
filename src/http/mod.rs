//! The pure RFC logic: no hyper `Request`, no file system, no clock (the time is passed in).
//! In: field values, lengths, validators; out: decisions and formatted field values.
//!
//! [`fields`] reads request fields (and checks `Host`), [`range`] resolves `Range` against a
//! length, [`conditional`] evaluates the preconditions in the §13.2.2 order, [`decide`] applies
//! both to one entity, [`segment`] and [`multipart`] frame a body with its exact length,
//! [`format`] writes field values (`Content-Range`, dates, ETag digits, disposition, URL
//! segments, hex, base64), and [`digest_fields`] reads and writes the digest fields.

pub mod conditional;
pub mod decide;
pub mod digest_fields;
pub mod fields;
pub mod format;
pub mod multipart;
pub mod range;
pub mod segment;
