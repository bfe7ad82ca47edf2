//! The operator's view: what comes in is the server's state (its listening address, this
//! machine's interfaces, the transfers in flight, the responses as they end); what goes out is
//! text for a person or a program — the banner's URLs and QR code ([`addresses`], [`qr`]), log
//! lines as JSON ([`json_log`]), Prometheus metrics ([`metrics`]), transfers in flight ([`transfers`]) shown live on a
//! terminal or as progress lines ([`live`]).
//! Each module here is pure; the listener and the access log do the printing.

pub mod addresses;
pub mod json_log;
pub mod live;
pub mod metrics;
pub mod qr;
pub mod transfers;
