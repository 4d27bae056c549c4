//! The OAuth 2.0 authorization server (RFC 6749 with the Security BCP,
//! RFC 9700): authorization requests and consent, codes, token minting and
//! rotation, revocation (RFC 7009), introspection (RFC 7662) and metadata
//! (RFC 8414, RFC 9728). HTTP handling lives in `crate::http::oauth`.

pub mod authorize;
pub mod error;
pub mod pkce;
pub mod token;

pub use error::{ErrorCode, OAuthError};

/// The one scope scimgate grants: provisioning users and groups into the
/// tenant over SCIM.
pub const SCOPE: &str = "scim";

/// Lifetimes and windows of the authorization server.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Access tokens (authorization code and client credentials grants).
    pub access_token_secs: i64,
    /// Refresh tokens; each rotation starts a new lifetime. Long, because
    /// Entra retries a quarantined job for up to four weeks.
    pub refresh_token_secs: i64,
    /// Authorization codes.
    pub code_secs: i64,
    /// How long the refresh token just replaced may still be presented once
    /// more (a retry after a lost response) without counting as reuse.
    pub refresh_grace_secs: i64,
}

/// Access tokens may last from one hour to six hours (Entra's range).
pub const ACCESS_TOKEN_MIN_SECS: i64 = 60 * 60;
pub const ACCESS_TOKEN_MAX_SECS: i64 = 6 * 60 * 60;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            access_token_secs: ACCESS_TOKEN_MIN_SECS,
            refresh_token_secs: 90 * 24 * 60 * 60,
            code_secs: 5 * 60,
            refresh_grace_secs: 60,
        }
    }
}
