//! OAuth errors (RFC 6749 §4.1.2.1 and §5.2, RFC 7009 §2.2.1).

use serde_json::{Value, json};

/// The error codes of the RFCs; `as_str` is the wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    UnsupportedTokenType,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
        }
    }
}

/// An error answered by the token, revocation or introspection endpoint.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    /// For the client's developer: what was wrong and what to do.
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    pub fn invalid_client() -> Self {
        Self::new(
            ErrorCode::InvalidClient,
            "client authentication failed: unknown client, or wrong, expired or revoked secret",
        )
    }

    pub fn server_error() -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request; it has been logged, retry later",
        )
    }

    /// HTTP status: 401 for client authentication failures, 500 for server
    /// errors, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self.code {
            ErrorCode::InvalidClient => 401,
            ErrorCode::ServerError => 500,
            _ => 400,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "error": self.code.as_str(),
            "error_description": wire_description(&self.description),
        })
    }
}

/// `error_description` as RFC 6749 §5.2 allows it: printable ASCII without
/// `"` and `\` (%x20-21 / %x23-5B / %x5D-7E). Quotes become apostrophes,
/// anything else outside the set a `?`, so a description that quotes what
/// the client sent stays readable and never breaks a strict parser.
pub fn wire_description(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

impl From<crate::store::SqlError> for OAuthError {
    fn from(e: crate::store::SqlError) -> Self {
        tracing::error!(error = %e, "database error in the authorization server");
        OAuthError::server_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_to_the_characters_rfc_6749_allows() {
        let e = OAuthError::invalid_request("grant_type \"pässword\"\n sent\\twice");
        let wire = e.to_json()["error_description"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(wire, "grant_type 'p?ssword'? sent/twice");
        assert!(
            wire.chars()
                .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
        );
    }
}
