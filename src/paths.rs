//! Every path scimgate serves that more than one module refers to, named
//! once: the routers mount them, and the rate limits, metrics labels,
//! redirects, metadata documents and printed URLs use the same constants.

/// Where the SCIM API is mounted. Entra's "Tenant URL" is the public URL
/// followed by this.
pub const SCIM_PREFIX: &str = scim_path!("");

/// A path under [`SCIM_PREFIX`], as a literal (for the router).
macro_rules! scim_path {
    ($rest:literal) => {
        concat!("/scim/v2", $rest)
    };
}
pub(crate) use scim_path;

/// The product's read API and event feed.
pub const API_PREFIX: &str = "/api/v1";

/// The authorization server's endpoints (RFC 6749, RFC 7009, RFC 7662).
pub const OAUTH_PREFIX: &str = "/oauth/";
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
pub const TOKEN_PATH: &str = "/oauth/token";
pub const REVOKE_PATH: &str = "/oauth/revoke";
pub const INTROSPECT_PATH: &str = "/oauth/introspect";

/// Metadata documents (RFC 8414, RFC 9728).
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/";
pub const AS_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
pub const RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The console's sign-in: the form, the start of a single sign-on, and
/// where OpenID Connect providers send the browser back to.
pub const SIGNIN_PATH: &str = "/signin";
pub const SIGNIN_SSO_PATH: &str = "/signin/sso";
pub const OIDC_CALLBACK_PATH: &str = "/signin/oidc/callback";
/// The first operator account's one-time setup link.
pub const SETUP_PATH: &str = "/setup";

/// Probes and metrics (the last on the management listener only).
pub const HEALTH_PATH: &str = "/healthz";
pub const READY_PATH: &str = "/readyz";
pub const METRICS_PATH: &str = "/metrics";
