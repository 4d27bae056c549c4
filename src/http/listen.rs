//! The connection loop of the public listener: what a client may cost before
//! its request reaches a handler. Timeouts and sizes follow the defaults of
//! servers that face the internet (nginx, Keycloak's Quarkus, Envoy):
//!
//! - headers must arrive within `header_read_timeout` of the connection
//!   being ready for a request, which also closes idle keep-alive
//!   connections (hyper starts the same clock while waiting for the next
//!   request): a slowloris client is cut off;
//! - a request line and headers above `max_header_bytes`, or more than
//!   `max_headers` headers, get `431` and the connection is closed;
//! - at most `max_connections` connections are served at once; the next
//!   ones wait in the kernel's backlog until one closes;
//! - the whole request, body included, must be answered within
//!   `request_timeout` (see [`RequestTimeout`]).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::{HYPER_MAX_HEADERS, Limits};

/// What the listener serves: the application's service, answering every
/// request (its errors are responses).
pub trait App:
    tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static
{
}

impl<S> App for S where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static
{
}

/// Serves `app` on `listener` until `stop` completes, then lets the
/// connections finish their requests in flight (the caller bounds how long).
pub async fn serve<S: App>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = RequestTimeout {
        app,
        limit: limits.request_timeout,
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // The read buffer bounds the request line and headers: a head that
        // does not fit gets 431. (8 KiB is hyper's least.)
        .max_buf_size(limits.max_header_bytes.max(8192));
    // hyper's own limit is 100 headers, parsed on the stack; setting any
    // limit moves the parse to the heap (an allocation per request), so it
    // is set only when it differs.
    if limits.max_headers != HYPER_MAX_HEADERS {
        builder.http1().max_headers(limits.max_headers);
    }
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32)
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the connection semaphore is never closed"),
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, as
                    // axum::serve does, instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper::service::service_fn({
            let app = app.clone();
            move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.call(req.map(Body::new))
            }
        });
        let builder = builder.clone();
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Answers a request that is not done within the limit: `408` (and the
/// connection closed) when the client had not finished sending its body,
/// `503` with `Retry-After` when scimgate itself took too long. The handler
/// is dropped, so a transaction it held rolls back.
#[derive(Clone)]
struct RequestTimeout<S> {
    app: S,
    limit: Duration,
}

impl<S: App> RequestTimeout<S> {
    fn call(
        &self,
        req: Request<Body>,
    ) -> impl Future<Output = Result<Response<Body>, Infallible>> + Send + use<S> {
        use tower::ServiceExt;
        let limit = self.limit;
        let app = self.app.clone();
        // Only a request with a body can be waiting on its client.
        let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        let scim = req.uri().path().starts_with(crate::paths::SCIM_PREFIX);
        async move {
            let (req, body_done) = if has_body {
                let done = Arc::new(AtomicBool::new(false));
                let req = req.map(|b| {
                    Body::new(Tracked {
                        inner: b,
                        done: done.clone(),
                    })
                });
                (req, Some(done))
            } else {
                (req, None)
            };
            match tokio::time::timeout(limit, app.oneshot(req)).await {
                Ok(r) => r,
                Err(_) => {
                    let client_slow = body_done.is_some_and(|d| !d.load(Ordering::Acquire));
                    Ok(timed_out(client_slow, scim, limit))
                }
            }
        }
    }
}

fn timed_out(client_slow: bool, scim: bool, limit: Duration) -> Response<Body> {
    let (status, detail) = if client_slow {
        (
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} seconds; send it at once",
                limit.as_secs()
            ),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the request was not done within {} seconds; try again in a moment",
                limit.as_secs()
            ),
        )
    };
    tracing::warn!(status = status.as_u16(), "request timed out");
    let mut resp = if scim {
        super::scim::scim_json(
            status,
            &scim::ScimError::new(status.as_u16(), None, detail).to_json(),
        )
    } else {
        (status, detail).into_response()
    };
    if client_slow {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    } else {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    resp
}

pin_project_lite::pin_project! {
    /// A request body that says when it has been read to its end.
    struct Tracked {
        #[pin]
        inner: Body,
        done: Arc<AtomicBool>,
    }
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.done.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
