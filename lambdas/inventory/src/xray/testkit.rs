//! The X-Ray daemon stand-in for unit tests (inventory's own, and through the `testkit` feature
//! the function crates' tests of their adapters' spans): a UDP socket on 127.0.0.1 the layer
//! sends to, and the documents it received.

use super::{DAEMON_HEADER, XrayConfig, layer};
use serde_json::Value;
use std::net::UdpSocket;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;

/// The trace id and parent (the function's segment) of [`header`].
pub const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
pub const PARENT: &str = "53995c3f42cd8ad8";

/// An invocation's trace header (`_X_AMZN_TRACE_ID`), `Sampled=` `sampled`.
pub fn header(sampled: &str) -> String {
    format!("Root={ROOT};Parent={PARENT};Sampled={sampled};Lineage=a87bd80c:0")
}

/// A UDP socket standing in for the daemon, and a subscriber (for this thread) exporting to it.
pub fn daemon(new_traces: bool) -> (UdpSocket, tracing::subscriber::DefaultGuard) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let config = XrayConfig {
        daemon: socket.local_addr().unwrap(),
        service: "factory-orderer",
        new_traces,
        region: Some("eu-west-1".into()),
    };
    let subscriber = tracing_subscriber::registry().with(layer(config).expect("socket"));
    (socket, tracing::subscriber::set_default(subscriber))
}

/// The documents received so far, in order, each checked for the daemon's header line.
pub fn received(socket: &UdpSocket) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut buf = [0u8; 65_536];
    while let Ok(n) = socket.recv(&mut buf) {
        let datagram = &buf[..n];
        let body = datagram
            .strip_prefix(DAEMON_HEADER)
            .unwrap_or_else(|| panic!("no daemon header: {}", String::from_utf8_lossy(datagram)));
        docs.push(serde_json::from_slice(body).unwrap());
    }
    docs
}
