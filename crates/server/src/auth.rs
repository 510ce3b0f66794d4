//! Request signatures, keys, nonces and rate limits (`docs/service.md`, "Authentication").
//!
//! Every authenticated request carries four headers: `x-ch-key` (the key id: the engine
//! principal's name; `operator` for the operator key), `x-ch-nonce` (a u64 the client never
//! reuses; it becomes the engine envelope's id, so it should increase), `x-ch-expiry` (Unix ms)
//! and `x-ch-signature` (hex ed25519 over [`signing_message`]). The signer *is* the engine
//! principal, so who may touch which account stays the engine's decision.
//!
//! A nonce seen before with the same signature is a retry: a mutating request goes on to the
//! engine, whose session window answers it with the first outcome; a read is refused. A nonce
//! seen before with another signature is `replayed_nonce`. Secrets never reach this process for
//! owners (they register public keys), and no key or signature is ever logged.

use crate::error::{Result, ServerError};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const HEADER_KEY: &str = "x-ch-key";
pub const HEADER_NONCE: &str = "x-ch-nonce";
pub const HEADER_EXPIRY: &str = "x-ch-expiry";
pub const HEADER_SIGNATURE: &str = "x-ch-signature";
/// The operator's key id (and engine principal).
pub const OPERATOR_KEY_ID: &str = "operator";
/// A request may expire at most this far ahead of the server's clock.
pub const EXPIRY_AHEAD_MS_MAX: u64 = 60_000;
/// Nonces remembered per key (until their request expires); beyond it the key is rate limited.
pub const NONCES_PER_KEY_MAX: usize = 65_536;
/// Registrations awaiting the operator's confirmation.
pub const PENDING_REGISTRATIONS_MAX: usize = 1_000;

/// What is signed: a domain tag, the method, the path with its query, the SHA-256 of the body
/// (hex, of the empty string for none), the nonce and the expiry, one per line.
pub fn signing_message(method: &str, path_and_query: &str, body: &[u8], nonce: u64, expiry_ms: u64) -> String {
    format!("clearhouse-v1\n{method}\n{path_and_query}\n{}\n{nonce}\n{expiry_ms}", hex(&Sha256::digest(body)))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

pub fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

pub fn parse_public_key(text: &str) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(&unhex::<32>(text)?).ok()
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: String,
    pub nonce: u64,
    pub is_operator: bool,
}

/// A request whose headers, key and expiry passed, not yet its signature: what
/// [`Auth::admit`] checks once the signature is valid.
#[derive(Debug, Clone)]
pub struct Claim {
    pub key_id: String,
    pub nonce: u64,
    pub expiry_ms: u64,
    pub signature: Signature,
    /// The server's clock when the request arrived (expiry, rate and nonce all use it).
    pub now_ms: u64,
    pub mutating: bool,
}

/// The four header values of a signed request.
pub struct SignedHeaders<'a> {
    pub key_id: &'a str,
    pub nonce: u64,
    pub expiry_ms: u64,
    pub signature: Signature,
}

impl<'a> SignedHeaders<'a> {
    pub fn parse(headers: &'a axum::http::HeaderMap) -> Result<SignedHeaders<'a>> {
        let get = |header: &'static str| headers.get(header).and_then(|v| v.to_str().ok()).ok_or(ServerError::MissingAuth { header });
        let key_id = get(HEADER_KEY)?;
        let nonce = get(HEADER_NONCE)?.parse().map_err(|_| ServerError::MissingAuth { header: HEADER_NONCE })?;
        let expiry_ms = get(HEADER_EXPIRY)?.parse().map_err(|_| ServerError::MissingAuth { header: HEADER_EXPIRY })?;
        let bytes = unhex::<64>(get(HEADER_SIGNATURE)?).ok_or(ServerError::MissingAuth { header: HEADER_SIGNATURE })?;
        Ok(SignedHeaders { key_id, nonce, expiry_ms, signature: Signature::from_bytes(&bytes) })
    }
}

/// Token bucket parameters per key.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: u32,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
}

#[derive(Default)]
struct Nonces {
    /// nonce -> (expiry, digest of the signature).
    seen: BTreeMap<u64, (u64, [u8; 32])>,
    /// (expiry, nonce) in arrival order: expired entries are forgotten from the front, so a
    /// request costs O(log n) plus what expired, not a scan of every remembered nonce.
    arrivals: std::collections::VecDeque<(u64, u64)>,
}

impl Nonces {
    fn forget_expired(&mut self, now_ms: u64) {
        while let Some(&(expiry, nonce)) = self.arrivals.front() {
            if expiry >= now_ms {
                break;
            }
            self.arrivals.pop_front();
            self.seen.remove(&nonce);
        }
        assert_eq!(self.seen.len(), self.arrivals.len(), "every remembered nonce arrived once");
    }
}

/// Keys, pending registrations, nonces and buckets.
pub struct Auth {
    operator: VerifyingKey,
    keys_file: PathBuf,
    keys: Mutex<BTreeMap<String, VerifyingKey>>,
    pending: Mutex<BTreeMap<String, VerifyingKey>>,
    nonces: Mutex<HashMap<String, Nonces>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    rate: RateLimit,
    verifier: crate::verify::Verifier,
}

impl Auth {
    /// Loads the registered keys from `keys_file`. The file must exist once any owner is
    /// registered in the journal (`owners_registered`): its absence is an error, not an empty set.
    /// Signatures are checked in batches of up to `signature_batch_max` (1: one by one).
    pub fn load(
        operator: VerifyingKey,
        keys_file: &Path,
        owners_registered: usize,
        rate: RateLimit,
        signature_batch_max: usize,
    ) -> Result<Auth> {
        let keys = match std::fs::read_to_string(keys_file) {
            Ok(text) => parse_keys_file(&text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && owners_registered == 0 => BTreeMap::new(),
            Err(e) => {
                let detail = format!("keys file {}: {e} ({owners_registered} owners are registered in the journal)", keys_file.display());
                return Err(ServerError::Startup { detail });
            }
        };
        assert!(rate.burst > 0 && rate.per_second > 0, "rate limits are positive (checked by the caller)");
        let verifier = crate::verify::Verifier::start(signature_batch_max)
            .map_err(|e| ServerError::Startup { detail: format!("starting the signature verifier: {e}") })?;
        Ok(Auth {
            operator,
            keys_file: keys_file.to_path_buf(),
            keys: Mutex::new(keys),
            pending: Mutex::new(BTreeMap::new()),
            nonces: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            rate,
            verifier,
        })
    }

    /// Checks a request's signature, expiry, nonce and rate; returns its principal.
    pub async fn authenticate(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &axum::http::HeaderMap,
        body: &[u8],
        now_ms: u64,
        mutating: bool,
    ) -> Result<Caller> {
        let (claim, item) = self.prepare(method, path_and_query, headers, body, now_ms, mutating)?;
        self.finish(&claim, item).await
    }

    /// Verifies a prepared request's signature (in the verifier's batch, or here), then admits it.
    pub async fn finish(&self, claim: &Claim, item: crate::verify::Item) -> Result<Caller> {
        match self.verifier.verify(item).await {
            Some(true) => self.admit(claim),
            Some(false) => Err(ServerError::BadSignature),
            None => Err(ServerError::ShuttingDown),
        }
    }

    /// Every check of [`Auth::authenticate`] that comes before the signature (headers, key,
    /// expiry): the request's claim, and the signature to verify before [`Auth::admit`].
    pub fn prepare(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &axum::http::HeaderMap,
        body: &[u8],
        now_ms: u64,
        mutating: bool,
    ) -> Result<(Claim, crate::verify::Item)> {
        let signed = SignedHeaders::parse(headers)?;
        let key = self.key(signed.key_id)?;
        check_expiry(signed.expiry_ms, now_ms)?;
        let message = signing_message(method, path_and_query, body, signed.nonce, signed.expiry_ms).into_bytes();
        let item = crate::verify::Item { key, message, signature: signed.signature };
        let claim = Claim {
            key_id: signed.key_id.to_string(),
            nonce: signed.nonce,
            expiry_ms: signed.expiry_ms,
            signature: signed.signature,
            now_ms,
            mutating,
        };
        Ok((claim, item))
    }

    /// The checks after a valid signature, in order: the key's rate limit (only a request the
    /// key signed spends its tokens: anyone can name a key id), then the nonce.
    pub fn admit(&self, claim: &Claim) -> Result<Caller> {
        self.take_token(&claim.key_id, claim.now_ms)?;
        self.check_nonce(&claim.key_id, claim.nonce, claim.expiry_ms, &claim.signature, claim.now_ms, claim.mutating)?;
        Ok(Caller { principal: claim.key_id.clone(), nonce: claim.nonce, is_operator: claim.key_id == OPERATOR_KEY_ID })
    }

    /// Whether signatures are checked in batches (then a handler may hand its signature to the
    /// writer's batch, see [`crate::core::Core::submit_signed`]).
    pub fn batch_max(&self) -> usize {
        self.verifier.batch_max()
    }

    fn key(&self, key_id: &str) -> Result<VerifyingKey> {
        if key_id == OPERATOR_KEY_ID {
            return Ok(self.operator);
        }
        let keys = self.keys.lock().map_err(|_| ServerError::internal("keys lock poisoned"))?;
        keys.get(key_id).copied().ok_or_else(|| ServerError::UnknownKey { key_id: crate::printable(key_id) })
    }

    fn take_token(&self, key_id: &str, now_ms: u64) -> Result<()> {
        let mut buckets = self.buckets.lock().map_err(|_| ServerError::internal("rate lock poisoned"))?;
        let burst = f64::from(self.rate.burst);
        if !buckets.contains_key(key_id) {
            buckets.insert(key_id.to_string(), Bucket { tokens: burst, at_ms: now_ms });
        }
        let bucket = buckets.get_mut(key_id).ok_or_else(|| ServerError::internal("the bucket just inserted"))?;
        let elapsed_s = now_ms.saturating_sub(bucket.at_ms) as f64 / 1000.0;
        bucket.tokens = (bucket.tokens + elapsed_s * f64::from(self.rate.per_second)).min(burst);
        bucket.at_ms = bucket.at_ms.max(now_ms);
        if bucket.tokens < 1.0 {
            let retry_after_ms = ((1.0 - bucket.tokens) / f64::from(self.rate.per_second) * 1000.0).ceil() as u64;
            return Err(ServerError::RateLimited { key_id: crate::printable(key_id), retry_after_ms });
        }
        bucket.tokens -= 1.0;
        Ok(())
    }

    fn check_nonce(&self, key_id: &str, nonce: u64, expiry_ms: u64, signature: &Signature, now_ms: u64, mutating: bool) -> Result<()> {
        let digest: [u8; 32] = Sha256::digest(signature.to_bytes()).into();
        let mut all = self.nonces.lock().map_err(|_| ServerError::internal("nonce lock poisoned"))?;
        if !all.contains_key(key_id) {
            all.insert(key_id.to_string(), Nonces::default());
        }
        let nonces = all.get_mut(key_id).ok_or_else(|| ServerError::internal("the nonces just inserted"))?;
        nonces.forget_expired(now_ms);
        match nonces.seen.get(&nonce) {
            Some((_, seen)) if *seen == digest && mutating => return Ok(()),
            Some(_) => return Err(ServerError::ReplayedNonce { nonce }),
            None => {}
        }
        if nonces.seen.len() >= NONCES_PER_KEY_MAX {
            return Err(ServerError::RateLimited { key_id: crate::printable(key_id), retry_after_ms: EXPIRY_AHEAD_MS_MAX });
        }
        nonces.seen.insert(nonce, (expiry_ms, digest));
        nonces.arrivals.push_back((expiry_ms, nonce));
        Ok(())
    }

    /// A self-signed registration request: the body's key must have signed it.
    pub fn request_registration(&self, name: &str, key: VerifyingKey) -> Result<()> {
        if name == OPERATOR_KEY_ID || self.keys.lock().map_err(|_| ServerError::internal("keys lock"))?.contains_key(name) {
            return Err(ServerError::Conflict { what: format!("key of {name}") });
        }
        let mut pending = self.pending.lock().map_err(|_| ServerError::internal("pending lock poisoned"))?;
        match pending.get(name) {
            // First come: a pending name is not taken over by another key.
            Some(existing) if *existing != key => return Err(ServerError::Conflict { what: format!("a pending registration of {name}") }),
            Some(_) => {}
            None if pending.len() >= PENDING_REGISTRATIONS_MAX => {
                return Err(ServerError::RateLimited { key_id: "registrations".into(), retry_after_ms: 60_000 });
            }
            None => {}
        }
        pending.insert(name.to_string(), key);
        Ok(())
    }

    pub fn pending_registration(&self, name: &str) -> Result<VerifyingKey> {
        let pending = self.pending.lock().map_err(|_| ServerError::internal("pending lock poisoned"))?;
        pending.get(name).copied().ok_or_else(|| ServerError::NotFound { what: format!("registration of {name}") })
    }

    /// Pending registrations with their public keys (hex), for the operator to check out of band.
    pub fn pending(&self) -> Vec<(String, String)> {
        self.pending.lock().map(|p| p.iter().map(|(n, k)| (n.clone(), hex(k.as_bytes()))).collect()).unwrap_or_default()
    }

    /// Activates a confirmed key and writes the keys file (atomically: temp file, fsync, rename).
    pub fn activate(&self, name: &str, key: VerifyingKey) -> Result<()> {
        let mut keys = self.keys.lock().map_err(|_| ServerError::internal("keys lock poisoned"))?;
        keys.insert(name.to_string(), key);
        let text = serde_json::to_string_pretty(&keys.iter().map(|(n, k)| (n.clone(), hex(k.as_bytes()))).collect::<BTreeMap<_, _>>())
            .map_err(ServerError::internal)?;
        write_atomically(&self.keys_file, text.as_bytes()).map_err(|e| ServerError::internal(format!("writing the keys file: {e}")))?;
        drop(keys);
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(name);
        }
        Ok(())
    }

    pub fn registered_keys(&self) -> usize {
        self.keys.lock().map(|k| k.len()).unwrap_or(0)
    }
}

fn check_expiry(expiry_ms: u64, now_ms: u64) -> Result<()> {
    if expiry_ms < now_ms {
        return Err(ServerError::Expired { expiry_ms, now_ms });
    }
    if expiry_ms - now_ms > EXPIRY_AHEAD_MS_MAX {
        return Err(ServerError::ExpiryTooFar { expiry_ms, max_ms: EXPIRY_AHEAD_MS_MAX });
    }
    Ok(())
}

fn parse_keys_file(text: &str) -> Result<BTreeMap<String, VerifyingKey>> {
    let raw: BTreeMap<String, String> =
        serde_json::from_str(text).map_err(|e| ServerError::Startup { detail: format!("keys file is not a name -> hex key map: {e}") })?;
    raw.into_iter()
        .map(|(name, key)| {
            let parsed = parse_public_key(&key)
                .ok_or_else(|| ServerError::Startup { detail: format!("keys file: key of {name} is not a hex ed25519 public key") });
            parsed.map(|k| (name, k))
        })
        .collect()
}

pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Unix time in ms from the system clock (the service's only clock; the engine has its own).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(byte: u8) -> Signature {
        Signature::from_bytes(&[byte; 64])
    }

    fn auth() -> Auth {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let dir = tempfile::tempdir().expect("temp dir");
        Auth::load(key, &dir.path().join("keys.json"), 0, RateLimit { burst: 2, per_second: 1 }, 1)
            .expect("no keys file and no owners is an empty set")
    }

    #[test]
    fn a_missing_keys_file_with_registered_owners_is_an_error() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let dir = tempfile::tempdir().expect("temp dir");
        let loaded = Auth::load(key, &dir.path().join("keys.json"), 3, RateLimit { burst: 2, per_second: 1 }, 1);
        assert!(matches!(loaded, Err(ServerError::Startup { .. })));
    }

    #[test]
    fn nonces_are_remembered_until_their_expiry_then_forgotten() {
        let a = auth();
        a.check_nonce("k", 5, 1_000, &signature(1), 0, true).expect("first use");
        a.check_nonce("k", 5, 1_000, &signature(1), 10, true).expect("a retry of a mutating request passes on to the engine");
        assert!(matches!(a.check_nonce("k", 5, 1_000, &signature(1), 10, false), Err(ServerError::ReplayedNonce { nonce: 5 })));
        assert!(matches!(a.check_nonce("k", 5, 1_000, &signature(2), 10, true), Err(ServerError::ReplayedNonce { nonce: 5 })));
        // Another key's nonce space is its own.
        a.check_nonce("other", 5, 1_000, &signature(2), 10, true).expect("per key");
        // After the expiry the nonce is forgotten (the request it signed can no longer be sent).
        a.check_nonce("k", 6, 5_000, &signature(3), 1_001, true).expect("later nonce");
        let nonces = a.nonces.lock().expect("lock");
        assert!(!nonces["k"].seen.contains_key(&5) && nonces["k"].seen.contains_key(&6));
    }

    #[test]
    fn token_bucket_allows_the_burst_then_refills_at_the_rate() {
        let a = auth();
        a.take_token("k", 0).expect("1 of burst 2");
        a.take_token("k", 0).expect("2 of burst 2");
        assert!(matches!(a.take_token("k", 0), Err(ServerError::RateLimited { retry_after_ms: 1000, .. })));
        a.take_token("k", 1_000).expect("one token after one second at 1/s");
        assert!(a.take_token("k", 1_000).is_err());
    }

    #[test]
    fn expiry_window() {
        assert!(check_expiry(100, 100).is_ok());
        assert!(matches!(check_expiry(99, 100), Err(ServerError::Expired { .. })));
        assert!(check_expiry(100 + EXPIRY_AHEAD_MS_MAX, 100).is_ok());
        assert!(matches!(check_expiry(101 + EXPIRY_AHEAD_MS_MAX, 100), Err(ServerError::ExpiryTooFar { .. })));
    }

    #[test]
    fn signing_message_covers_every_part() {
        let base = signing_message("POST", "/v1/orders", b"{}", 1, 2);
        assert_eq!(base, format!("clearhouse-v1\nPOST\n/v1/orders\n{}\n1\n2", hex(&Sha256::digest(b"{}"))));
        for other in [
            signing_message("GET", "/v1/orders", b"{}", 1, 2),
            signing_message("POST", "/v1/order", b"{}", 1, 2),
            signing_message("POST", "/v1/orders", b"{ }", 1, 2),
            signing_message("POST", "/v1/orders", b"{}", 3, 2),
            signing_message("POST", "/v1/orders", b"{}", 1, 3),
        ] {
            assert_ne!(base, other);
        }
        // SHA-256 of the empty body, the FIPS 180-2 test value.
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert!(signing_message("GET", "/", b"", 0, 0).contains("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    }
}
