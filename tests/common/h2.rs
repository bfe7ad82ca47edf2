//! An HTTP/2 client for exact checks: hyper's own, speaking h2c with prior knowledge to the
//! plain port (RFC 9113 §3.3), so that a response can be compared field by field and byte by
//! byte with what HTTP/1.1 gets.

use std::net::SocketAddr;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::{PATIENCE, Reply};

/// Header fields that are specific to an HTTP/1.1 connection and must never appear in an
/// HTTP/2 message (RFC 9113 §8.2.2).
pub const CONNECTION_SPECIFIC: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// One request: method, path, header fields.
pub type Ask<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// Sends requests over one HTTP/2 connection and collects each response whole.
pub fn requests(addr: SocketAddr, each: &[Ask<'_>]) -> Vec<Reply> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(PATIENCE, async {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                    .await
                    .expect("an HTTP/2 handshake");
            tokio::spawn(connection);
            let mut replies = Vec::new();
            for (method, path, fields) in each {
                let mut req = hyper::Request::builder()
                    .method(*method)
                    .uri(format!("http://{addr}{path}"));
                for (name, value) in *fields {
                    req = req.header(*name, *value);
                }
                let response = sender
                    .send_request(req.body(Empty::<Bytes>::new()).unwrap())
                    .await
                    .expect("a response");
                assert_eq!(response.version(), hyper::Version::HTTP_2);
                let status = response.status().as_u16();
                let headers: Vec<(String, String)> = response
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap().to_string()))
                    .collect();
                for (name, _) in &headers {
                    assert!(
                        !CONNECTION_SPECIFIC.contains(&name.as_str()),
                        "connection-specific field {name} on an HTTP/2 response"
                    );
                }
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .expect("the whole body")
                    .to_bytes()
                    .to_vec();
                replies.push(Reply {
                    status,
                    headers,
                    body,
                });
            }
            replies
        })
        .await
        .expect("HTTP/2 requests within the patience")
    })
}

/// One request over a new HTTP/2 connection.
pub fn request(addr: SocketAddr, method: &str, path: &str, fields: &[(&str, &str)]) -> Reply {
    requests(addr, &[(method, path, fields)]).remove(0)
}
