//! The operator's view: what comes in is the server's state (its listening address, this
//! machine's interfaces, the transfers in flight, the responses as they end); what goes out is
//! text for a person or a program — the start-up [`banner`] with its URLs and QR code
//! ([`addresses`], [`qr`]), log lines as text with control characters escaped ([`text_log`]) or
//! as JSON ([`json_log`]), Prometheus metrics ([`metrics`])
//! served by [`metrics_listener`], and transfers in flight ([`transfers`]) shown live on a
//! terminal or as progress lines ([`live`]).
//! The formatting is pure; `live` runs a thread that redraws the terminal, `metrics_listener`
//! serves on a socket of its own, and the server prints the banner.

pub mod addresses;
pub mod banner;
pub mod json_log;
pub mod live;
pub mod metrics;
pub mod metrics_listener;
pub mod qr;
pub mod text_log;
pub mod transfers;
