//! The PAT bearer format, SuperMQ's: `pat_<base64(user id ‖ PAT id)>_<100 random
//! letters and digits>`. The middle part names the token's row, so a bearer token is
//! recognised by its prefix and found by its id (no scan over hashes); the whole
//! string is what is hashed and compared (constant time) with the stored HMAC.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::distributions::Alphanumeric;
use rand::Rng;
use uuid::Uuid;

/// What every PAT starts with; any other bearer token is a JWT.
pub const PREFIX: &str = "pat_";
/// Random characters after the ids (SuperMQ's length).
const RANDOM_LEN: usize = 100;
/// Longer strings cannot be ours and are refused before any decoding.
const MAX_LEN: usize = 256;

/// The ids a PAT names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIds {
    pub user_id: String,
    pub pat_id: String,
}

/// Whether a bearer token is a PAT (by its prefix only).
pub fn is_pat(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// A new token for the PAT `pat_id` of `user_id`; `None` when either is not a UUID
/// (ids made by this platform always are).
pub fn generate(user_id: &str, pat_id: &str) -> Option<String> {
    let user = Uuid::try_parse(user_id).ok()?;
    let pat = Uuid::try_parse(pat_id).ok()?;
    let mut ids = [0u8; 32];
    ids[..16].copy_from_slice(user.as_bytes());
    ids[16..].copy_from_slice(pat.as_bytes());
    let random: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(RANDOM_LEN)
        .map(char::from)
        .collect();
    Some(format!("{PREFIX}{}_{random}", STANDARD.encode(ids)))
}

/// The ids of a well-formed token; `None` for anything else (no I/O, bounded work).
pub fn parse(token: &str) -> Option<TokenIds> {
    if token.len() > MAX_LEN {
        return None;
    }
    let rest = token.strip_prefix(PREFIX)?;
    let (ids, random) = rest.split_once('_')?;
    if random.len() != RANDOM_LEN || !random.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let bytes = STANDARD.decode(ids).ok()?;
    if bytes.len() != 32 {
        return None;
    }
    let user = Uuid::from_slice(&bytes[..16]).ok()?;
    let pat = Uuid::from_slice(&bytes[16..]).ok()?;
    Some(TokenIds {
        user_id: user.to_string(),
        pat_id: pat.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_user_and_pat() {
        let (user, pat) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
        let token = generate(&user, &pat).unwrap();
        assert!(is_pat(&token));
        assert_eq!(
            parse(&token),
            Some(TokenIds {
                user_id: user.clone(),
                pat_id: pat.clone()
            })
        );
        assert_ne!(generate(&user, &pat), Some(token));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = generate(&Uuid::new_v4().to_string(), &Uuid::new_v4().to_string()).unwrap();
        let (head, _) = good.rsplit_once('_').unwrap();
        for bad in [
            "pat_",
            "pat_abc_def",
            "eyJhbGciOi.x.y",
            &format!("{head}_short"),
            &format!("{head}_{}", "!".repeat(100)),
            &format!("pat_{}_{}", STANDARD.encode([1u8; 31]), "a".repeat(100)),
            &format!("{good}{}", "a".repeat(300)),
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(generate("not-a-uuid", &Uuid::new_v4().to_string()), None);
    }
}
