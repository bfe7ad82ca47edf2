//! Sharing privately and fairly: what comes in is a request (its peer, its path and fields)
//! and a clock reading; what goes out is a decision — whether the request may be served
//! ([`auth`], [`link`] for expiring links) and how many bytes may go now ([`rate`]'s buckets,
//! picked per response by [`throttle`]; the observed body, `access_log::ObservedBody`, holds
//! its bytes to them); who one [`client`] is; the [`secret`] path's comparison and its
//! redaction. Each module is pure but [`keys`] (the secrets kept under the state directory),
//! [`users`] (`--auth-file`, reloaded on SIGHUP, and the bcrypt turns) and [`throttle`] (the
//! shared buckets and the timer a body sleeps on).

pub mod auth;
pub mod client;
pub mod keys;
pub mod link;
pub mod rate;
pub mod secret;
pub mod throttle;
pub mod users;
