//! Sharing privately and fairly: what comes in is a request (its peer, its path and fields)
//! and a clock reading; what goes out is a decision — whether the request may be served ([`auth`]), how many bytes may go now
//! ([`rate`], applied to a body by [`throttle`]).
//! Each module is pure; the handler and the body ask them.

pub mod auth;
pub mod rate;
pub mod throttle;
