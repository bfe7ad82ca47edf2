//! Sharing privately and fairly: what comes in is a request (its peer, its path and fields)
//! and a clock reading; what goes out is a decision — whether the request may be served ([`auth`]), how many bytes may go now
//! ([`rate`], applied to a body by [`throttle`]).
//! Each module is pure but [`keys`] (the secrets kept under the state directory); the handler and
//! the body ask them: [`link`] checks expiring links.

pub mod auth;
pub mod keys;
pub mod link;
pub mod rate;
pub mod throttle;
