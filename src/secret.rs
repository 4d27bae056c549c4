//! High-entropy secrets (tokens, codes, client secrets): generation, the
//! hash that is stored instead of them, and constant-time comparison.

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Prefix of admin-minted secret tokens ("scimgate secret token").
pub const SECRET_TOKEN_PREFIX: &str = "sgst_";
/// Prefix of OAuth access tokens.
pub const ACCESS_TOKEN_PREFIX: &str = "sgat_";
/// Prefix of OAuth refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "sgrt_";

/// Longest bearer value worth hashing; anything longer is not ours.
const MAX_LEN: usize = 256;

/// `prefix` followed by 32 random bytes in unpadded base64url (256 bits).
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Hex SHA-256: what the database keeps. The input is high-entropy random, so
/// a fast hash is enough (no password stretching needed).
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A short, recognisable hint for people: the prefix, four characters, and the
/// last four (`sgst_Ab3d…9xYz`). It reveals 48 of 256 bits.
pub fn hint(secret: &str) -> String {
    let (prefix, rest) = match secret.find('_') {
        Some(i) => secret.split_at(i + 1),
        None => ("", secret),
    };
    let chars: Vec<char> = rest.chars().collect();
    if chars.len() < 12 {
        return format!("{prefix}…");
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}{head}…{tail}")
}

/// Cheap shape check before touching the database.
pub fn plausible(presented: &str) -> bool {
    !presented.is_empty()
        && presented.len() <= MAX_LEN
        && presented
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.' || b == b'~')
}

/// Compares a presented secret with a stored hash in constant time.
pub fn verify(presented: &str, stored_hash: &str) -> bool {
    let computed = hash(presented);
    computed.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_prefixed_unique_and_plausible() {
        let a = generate(SECRET_TOKEN_PREFIX);
        let b = generate(SECRET_TOKEN_PREFIX);
        assert!(a.starts_with("sgst_"));
        assert_eq!(a.len(), 5 + 43);
        assert_ne!(a, b);
        assert!(plausible(&a));
    }

    #[test]
    fn verify_accepts_only_the_same_secret() {
        let s = generate(ACCESS_TOKEN_PREFIX);
        let h = hash(&s);
        assert!(verify(&s, &h));
        assert!(!verify(&format!("{s}x"), &h));
        assert!(!verify("", &h));
    }

    #[test]
    fn hint_shows_prefix_and_ends_only() {
        let s = "sgst_ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        assert_eq!(hint(s), "sgst_ABCD…WXYZ");
        assert_eq!(hint("sgst_short"), "sgst_…");
    }

    #[test]
    fn implausible_values_are_rejected_before_lookup() {
        assert!(!plausible(""));
        assert!(!plausible("has space"));
        assert!(!plausible(&"a".repeat(300)));
    }
}
