//! scimgate: a SCIM 2.0 provisioning endpoint for a SaaS application, in
//! one binary: its own OAuth 2.0 authorization server, the SCIM resource
//! server, an admin console, and, facing the vendor's product, an event
//! feed, signed webhooks and a read API.
//!
//! The layers, lowest first: the protocol core (the `scim` crate), `store`
//! (the database), `provision`, `oauth`, `events`, `webhooks` and
//! `housekeeping` (what the service does), `http` (routers, extractors,
//! the SCIM and OAuth faces, the product's API) and `console` (the admin
//! pages, their router and browser session); `docs/architecture.md` draws
//! the graph. `cli`, `config` and `metrics` sit beside them. The tools that
//! drive a running server over HTTP (the provisioning simulator and the
//! benchmarks) are a crate of their own (`scimgate-tools`, `crates/tools`)
//! that knows nothing of this one; `cli` runs them.
//!
//! [`Server::bind`] builds the whole service from a [`config::Config`]; it
//! binds its listener first (port 0 allowed) so callers know the real address
//! before anything is served. `scimgate serve` and the tests use it.

pub mod cli;
pub mod config;
pub mod console;
pub mod events;
pub mod housekeeping;
pub mod http;
pub mod metrics;
pub mod oauth;
pub mod oidc;
pub mod password;
pub mod paths;
pub mod provision;
pub mod secret;
pub mod store;
pub mod webhooks;

pub use scim;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tower::Layer as _;

use crate::config::Config;
use crate::http::AppState;
use crate::store::Db;

/// A bound, ready-to-serve scimgate.
pub struct Server {
    listener: TcpListener,
    /// The management listener (`/healthz`, `/readyz`, `/metrics`).
    management: Option<TcpListener>,
    state: AppState,
    setup_link: Option<String>,
}

impl Server {
    /// Connects to the database (running migrations) and binds the listener.
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        let db = Db::connect(&config.database_url).await?;
        Server::bind_with_db(config, db).await
    }

    /// As [`Server::bind`], on an already connected database.
    pub async fn bind_with_db(config: Config, db: Db) -> anyhow::Result<Server> {
        db.set_write_wait(config.write_wait);
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let addr = listener.local_addr()?;
        let management = match config.management_bind {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .with_context(|| format!("cannot listen on {a} (--management-bind)"))?,
            ),
            None => None,
        };
        let public_url = match &config.public_url {
            Some(u) => config::normalize_public_url(u)?,
            None => default_public_url(addr),
        };
        // A database without any console account gets a one-time link
        // that creates the first operator (see `store::setup`).
        let setup_link = store::setup::issue_if_needed(&db)
            .await
            .context("preparing the first-start setup link")?
            .map(|token| format!("{public_url}/setup?token={token}"));
        let state = AppState::new(db, config, public_url);
        Ok(Server {
            listener,
            management,
            state,
            setup_link,
        })
    }

    /// The first-start setup link, when this start found no console account.
    pub fn setup_link(&self) -> Option<&str> {
        self.setup_link.as_deref()
    }

    /// Prints the first-start setup link (if any) to the log and, when
    /// `plain`, as a paragraph on stderr, where whoever started the service
    /// sees it.
    pub fn announce_setup_link(&self, plain: bool) {
        if let Some(link) = &self.setup_link {
            tracing::info!(link = %link, "no console account exists yet: open the setup link to create the first operator");
            if plain {
                eprintln!(
                    "\nNo console account exists yet. Open this link within {} hours to create the first operator account (it works once):\n\n    {link}\n",
                    store::setup::LINK_HOURS
                );
            }
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Where the management listener is bound, when there is one.
    pub fn management_addr(&self) -> Option<SocketAddr> {
        self.management.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn public_url(&self) -> &str {
        self.state.public_url()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes; then stops accepting, answers
    /// `/readyz` with 503, lets requests in flight finish (for at most the
    /// configured grace), writes the queued read log and closes the
    /// database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = http::router(self.state.clone(), console::router(&self.state));
        // Path normalisation must run before routing, so it wraps the router.
        let app = tower::util::MapRequestLayer::new(http::scim::normalize_path).layer(router);
        let db = self.state.db().clone();
        let cleanup = console::session::spawn_session_cleanup(db.clone());
        let forget = {
            let state = self.state.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    every.tick().await;
                    state.limiters().forget_idle();
                }
            })
        };
        let publisher = events::spawn_publisher(db.clone());
        let housekeeping = housekeeping::spawn(db.clone(), self.state.config().events.clone());
        let deliveries = webhooks::spawn(db.clone(), self.state.config().webhooks.clone());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let management = self.management.map(|l| {
            let router = http::observe::management_router(self.state.clone());
            tokio::spawn(async move { axum::serve(l, router).await })
        });
        let mut served = tokio::spawn(http::listen::serve(
            self.listener,
            app,
            self.state.config().limits.clone(),
            stopped(),
        ));
        let state = self.state.clone();
        let grace = self.state.config().shutdown_grace;
        let result = tokio::select! {
            r = &mut served => r,
            () = shutdown => {
                state.start_draining();
                let _ = stop_tx.send(true);
                match tokio::time::timeout(grace, &mut served).await {
                    Ok(r) => r,
                    Err(_) => {
                        tracing::warn!(grace_seconds = grace.as_secs(), "requests still in flight after the shutdown grace: closing their connections");
                        served.abort();
                        Ok(Ok(()))
                    }
                }
            }
        };
        cleanup.abort();
        forget.abort();
        if let Some(p) = publisher {
            p.abort();
        }
        housekeeping.abort();
        deliveries.stop().await;
        if let Some(m) = management {
            m.abort();
        }
        let served = result.context("the HTTP server task")?;
        served.context("serving HTTP")?;
        // Requests are done: write the queued read log before closing the pools.
        self.state.activity().close().await;
        db.close().await;
        tracing::info!("scimgate stopped");
        Ok(())
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// The URL clients reach a server bound to `addr` at, when no public URL is
/// configured: an unspecified address (0.0.0.0) is shown as loopback.
fn default_public_url(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        match addr {
            SocketAddr::V4(_) => "127.0.0.1".to_string(),
            SocketAddr::V6(_) => "[::1]".to_string(),
        }
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    format!("http://{ip}:{}", addr.port())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
