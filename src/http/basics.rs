//! What every response gets: the request's id (taken from the request's
//! `X-Request-Id`, or a new UUID, set on the request before any handler and
//! echoed on the response) and the security headers, each only when the
//! handler did not set it. One layer rather than one per header: this runs
//! on every request, Entra's lookups included.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

static SECURITY_HEADERS: [(HeaderName, HeaderValue); 3] = [
    (
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    ),
    (
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    ),
    (
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    ),
];

/// Longest request id taken from a client; a longer one, or one with
/// other characters than visible ASCII, is replaced by a new id (it is
/// logged and stored with every activity entry).
pub const MAX_REQUEST_ID: usize = 128;

fn acceptable_id(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID && id.iter().all(|b| b.is_ascii_graphic())
}

#[derive(Debug, Clone, Copy, Default)]
pub struct BasicsLayer;

impl<S> Layer<S> for BasicsLayer {
    type Service = Basics<S>;

    fn layer(&self, inner: S) -> Basics<S> {
        Basics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Basics<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for Basics<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = BasicsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let given = req
            .headers()
            .get(&X_REQUEST_ID)
            .filter(|v| acceptable_id(v.as_bytes()))
            .cloned();
        let request_id = match given {
            Some(given) => given,
            None => {
                let mut buf = uuid::Uuid::encode_buffer();
                let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
                let value = HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("-"));
                req.headers_mut()
                    .insert(X_REQUEST_ID.clone(), value.clone());
                value
            }
        };
        BasicsFuture {
            inner: self.inner.call(req),
            request_id: Some(request_id),
        }
    }
}

pin_project! {
    pub struct BasicsFuture<F> {
        #[pin]
        inner: F,
        request_id: Option<HeaderValue>,
    }
}

impl<F, R, E> Future for BasicsFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut resp = ready!(this.inner.poll(cx))?;
        let headers = resp.headers_mut();
        if let Some(id) = this.request_id.take()
            && !headers.contains_key(&X_REQUEST_ID)
        {
            headers.insert(X_REQUEST_ID.clone(), id);
        }
        for (name, value) in &SECURITY_HEADERS {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        Poll::Ready(Ok(resp))
    }
}
