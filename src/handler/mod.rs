//! One request → one [`Plan`] → one response: the gates (Host, auth, mount), the route to an
//! entity, `http::decide`, the response, and the body's observers. In: a hyper request and the
//! shared state; out: a response whose body is observed (log, metrics, rate limits, live view).
//!
//! [`state`] is what every request shares, [`gates`] what a request passes before it is routed,
//! [`plan`] turns it into a [`Plan`] (the lookups, the generated documents, the decision) with
//! [`listing`] reading and rendering folders, [`metalink`] and [`torrent`] making the documents
//! that describe a file or a folder piece by piece, [`respond`] turns the plan into a response in one exhaustive `match`, and [`observe`]
//! wraps its body.

pub mod gates;
pub mod listing;
pub mod metalink;
pub mod observe;
pub mod plan;
pub mod respond;
pub mod state;
pub mod torrent;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use hyper::body::Incoming;
use hyper::{Method, Request, Response};

use crate::access_log::ObservedBody;
pub use plan::{Plan, Refusal};
pub use state::Shared;

/// The hyper service. `busy`: this connection is over `--max-connections-per-client` (every
/// request on it gets 503). `answering` is held until the response is made (the connection
/// counts the request as in flight while it lives). The clocks are read once here and passed
/// down.
pub async fn handle<G: Send>(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    peer: SocketAddr,
    busy: bool,
    answering: G,
) -> Result<Response<ObservedBody>, Infallible> {
    let (started, now) = (Instant::now(), SystemTime::now());
    let plan = match busy {
        true => Plan::Refuse(Refusal::Busy),
        false => plan::plan(&req, &shared, peer, started, now).await,
    };
    let single_range = plan.single_range();
    let head = req.method() == Method::HEAD;
    let counting = match head {
        true => None,
        false => plan.counting(&shared, peer),
    };
    let response = respond::respond(plan, &shared.config, head, now);
    let observed = observe::observe(
        &req,
        response,
        &shared,
        peer,
        started,
        single_range,
        counting,
    );
    drop(answering);
    Ok(observed)
}
