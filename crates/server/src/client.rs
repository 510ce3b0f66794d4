//! A small signing client: an ed25519 [`Signer`] that produces the four authentication headers,
//! and a keep-alive HTTP/1.1 [`Client`] over one TCP connection (enough for the tests, the load
//! tool and scripts; responses must carry `Content-Length`, as every response of this server does).

use crate::auth::{HEADER_EXPIRY, HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, hex, signing_message};
use ed25519_dalek::{Signer as _, SigningKey};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Longest response body the client reads.
pub const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// How far ahead requests expire.
pub const EXPIRY_AHEAD_MS: u64 = 30_000;

pub struct Signer {
    pub key_id: String,
    key: SigningKey,
    last_nonce: AtomicU64,
}

impl Signer {
    pub fn from_seed(key_id: &str, seed: [u8; 32]) -> Signer {
        Signer { key_id: key_id.into(), key: SigningKey::from_bytes(&seed), last_nonce: AtomicU64::new(0) }
    }

    pub fn public_key_hex(&self) -> String {
        hex(self.key.verifying_key().as_bytes())
    }

    /// Strictly increasing, above any earlier process's: wall-clock microseconds.
    pub fn next_nonce(&self) -> u64 {
        let now_us = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        let mut last = self.last_nonce.load(Ordering::SeqCst);
        loop {
            let next = (last + 1).max(now_us);
            match self.last_nonce.compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    pub fn headers(&self, method: &str, path: &str, body: &[u8], nonce: u64, expiry_ms: u64) -> Vec<(String, String)> {
        let signature = self.key.sign(signing_message(method, path, body, nonce, expiry_ms).as_bytes());
        vec![
            (HEADER_KEY.into(), self.key_id.clone()),
            (HEADER_NONCE.into(), nonce.to_string()),
            (HEADER_EXPIRY.into(), expiry_ms.to_string()),
            (HEADER_SIGNATURE.into(), hex(&signature.to_bytes())),
        ]
    }

    /// Headers with a fresh nonce, expiring [`EXPIRY_AHEAD_MS`] from now.
    pub fn sign(&self, method: &str, path: &str, body: &[u8]) -> Vec<(String, String)> {
        self.headers(method, path, body, self.next_nonce(), crate::auth::now_ms() + EXPIRY_AHEAD_MS)
    }

    /// The query string (`?key=..&nonce=..&expiry=..&signature=..`) that authenticates a
    /// WebSocket upgrade of `GET /v1/stream` (browsers cannot set headers on an upgrade).
    pub fn stream_query(&self) -> String {
        let signed = self.sign("GET", "/v1/stream", b"");
        let field = |name: &str| signed.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_default();
        format!(
            "?key={}&nonce={}&expiry={}&signature={}",
            field(HEADER_KEY),
            field(HEADER_NONCE),
            field(HEADER_EXPIRY),
            field(HEADER_SIGNATURE)
        )
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The error code of an error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or("").to_string()
    }
}

pub struct Client {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, stream: None }
    }

    pub async fn request(&mut self, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> io::Result<Response> {
        self.connect().await?;
        let result = self.exchange(method, path, headers, body).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> io::Result<Response> {
        let bytes = encode_request(self.addr, method, path, headers, body);
        self.exchange_raw(&bytes).await
    }

    async fn exchange_raw(&mut self, request: &[u8]) -> io::Result<Response> {
        let stream = self.stream.as_mut().ok_or_else(|| io::Error::other("not connected"))?;
        stream.get_mut().write_all(request).await?;
        read_response(stream).await
    }

    /// Sends a request encoded beforehand by [`encode_request`] (the load tool signs and encodes
    /// its requests before it starts the clock).
    pub async fn request_raw(&mut self, request: &[u8]) -> io::Result<Response> {
        self.connect().await?;
        let result = self.exchange_raw(request).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn connect(&mut self) -> io::Result<()> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::new(stream));
        }
        Ok(())
    }

    /// A signed request with a fresh nonce.
    pub async fn signed(&mut self, signer: &Signer, method: &str, path: &str, body: &[u8]) -> io::Result<Response> {
        let headers = signer.sign(method, path, body);
        self.request(method, path, &headers, body).await
    }
}

/// The bytes of one HTTP/1.1 request to `addr`.
pub fn encode_request(addr: SocketAddr, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n", body.len());
    if !body.is_empty() {
        head.push_str("content-type: application/json\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

async fn read_response(stream: &mut BufReader<TcpStream>) -> io::Result<Response> {
    let mut line = String::new();
    if stream.read_line(&mut line).await? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    let status =
        line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        stream.read_line(&mut line).await?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| io::Error::other("response without content-length"))?;
    if length > RESPONSE_BYTES_MAX {
        return Err(io::Error::other("response too large"));
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await?;
    Ok(Response { status, headers, body })
}
