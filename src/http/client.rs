//! Who is on the other end of a request: the client's address, believed
//! from `X-Forwarded-For` only behind a trusted proxy. The rate limits and
//! the console's sign-in pages both use it.

use crate::http::AppState;

/// The client's IP address as the socket saw it; "unknown" when the service
/// is driven without connection info (a `oneshot` test of the router).
/// Behind a proxy this is the proxy's address.
pub struct ClientIp(pub String);

impl axum::extract::FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0);
        Ok(ClientIp(
            client_address(&parts.headers, peer, &state.config().trusted_proxies)
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| "unknown".to_string()),
        ))
    }
}

/// The client's address: the socket's peer, unless the peer is one of the
/// trusted proxies; then the right-most `X-Forwarded-For` address that is
/// not itself a trusted proxy (the left-most entries are whatever the
/// client chose to send, so they are never believed).
pub fn client_address(
    headers: &axum::http::HeaderMap,
    peer: Option<std::net::SocketAddr>,
    trusted: &[ipnet::IpNet],
) -> Option<std::net::IpAddr> {
    let peer = peer?.ip();
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for entry in forwarded.iter().rev() {
        match entry.parse::<std::net::IpAddr>() {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return Some(ip),
            // Garbage where an address should be: stop believing the header.
            Err(_) => break,
        }
    }
    Some(peer)
}
