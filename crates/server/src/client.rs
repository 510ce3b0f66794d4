//! A small signing client: an ed25519 [`Signer`] that produces the four authentication headers,
//! and a keep-alive HTTP/1.1 [`Client`] over one TCP connection (enough for the tests, the load
//! tool and scripts; responses must carry `Content-Length`, as every response of this server does).

use crate::auth::{HEADER_EXPIRY, HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, hex, signing_message};
use ed25519_dalek::{Signer as _, SigningKey};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    stream: Option<TcpStream>,
    /// Bytes read from the connection and not consumed yet (reused from answer to answer).
    buffer: Vec<u8>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, stream: None, buffer: Vec::with_capacity(READ_CHUNK) }
    }

    pub async fn request(&mut self, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> io::Result<Response> {
        let bytes = encode_request(self.addr, method, path, headers, body);
        self.request_raw(&bytes).await
    }

    /// Sends a request encoded beforehand by [`encode_request`] (the load tool signs and encodes
    /// its requests before it starts the clock).
    pub async fn request_raw(&mut self, request: &[u8]) -> io::Result<Response> {
        let head = self.exchange(request).await?;
        let response = parse_response(&self.buffer[..head.end + head.content_length], &head);
        self.buffer.drain(..head.end + head.content_length);
        response
    }

    /// As [`Client::request_raw`], reading the whole answer but keeping only its status (no
    /// allocation per answer: the load tool's client).
    pub async fn request_raw_status(&mut self, request: &[u8]) -> io::Result<u16> {
        let head = self.exchange(request).await?;
        self.buffer.drain(..head.end + head.content_length);
        Ok(head.status)
    }

    /// Writes the request and reads one whole answer into the buffer; a failed exchange drops
    /// the connection (the next request opens a new one).
    async fn exchange(&mut self, request: &[u8]) -> io::Result<Head> {
        self.connect().await?;
        let result = self.write_and_read(request).await;
        if result.is_err() {
            self.stream = None;
            self.buffer.clear();
        }
        result
    }

    async fn write_and_read(&mut self, request: &[u8]) -> io::Result<Head> {
        let stream = self.stream.as_mut().ok_or_else(|| io::Error::other("not connected"))?;
        stream.write_all(request).await?;
        let head = loop {
            if let Some(head) = parse_head(&self.buffer)? {
                break head;
            }
            read_more(stream, &mut self.buffer).await?;
        };
        if head.content_length > RESPONSE_BYTES_MAX {
            return Err(io::Error::other("response too large"));
        }
        while self.buffer.len() < head.end + head.content_length {
            read_more(stream, &mut self.buffer).await?;
        }
        Ok(head)
    }

    async fn connect(&mut self) -> io::Result<()> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.buffer.clear();
            self.stream = Some(stream);
        }
        Ok(())
    }

    /// A signed request with a fresh nonce.
    pub async fn signed(&mut self, signer: &Signer, method: &str, path: &str, body: &[u8]) -> io::Result<Response> {
        let headers = signer.sign(method, path, body);
        self.request(method, path, &headers, body).await
    }
}

/// Bytes asked of the connection per read.
const READ_CHUNK: usize = 8 * 1024;
/// Longest status line and headers the client reads.
const HEAD_BYTES_MAX: usize = 64 * 1024;

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<()> {
    buffer.reserve(READ_CHUNK);
    if stream.read_buf(buffer).await? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    Ok(())
}

/// An answer's status line and headers: its status, where its body starts, its length.
#[derive(Debug, PartialEq)]
struct Head {
    status: u16,
    end: usize,
    content_length: usize,
}

/// The head of the answer at the start of `bytes`, once all of it is there.
fn parse_head(bytes: &[u8]) -> io::Result<Option<Head>> {
    let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if bytes.len() > HEAD_BYTES_MAX { Err(io::Error::other("response head too large")) } else { Ok(None) };
    };
    let text = std::str::from_utf8(&bytes[..at]).map_err(|_| io::Error::other("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let status =
        line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let content_length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .ok_or_else(|| io::Error::other("response without content-length"))?;
    Ok(Some(Head { status, end: at + 4, content_length }))
}

/// The whole answer (`bytes` holds exactly its head and body).
fn parse_response(bytes: &[u8], head: &Head) -> io::Result<Response> {
    let text = std::str::from_utf8(&bytes[..head.end]).map_err(|_| io::Error::other("response head is not UTF-8"))?;
    let headers = text
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Ok(Response { status: head.status, headers, body: bytes[head.end..].to_vec() })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_is_read_once_complete_and_names_the_body() {
        let answer = b"HTTP/1.1 422 Unprocessable Entity\r\ncontent-type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}HTTP/1.1";
        assert_eq!(parse_head(&answer[..40]).expect("partial"), None);
        let head = parse_head(answer).expect("head").expect("complete");
        assert_eq!(head, Head { status: 422, end: 88, content_length: 7 });
        let response = parse_response(&answer[..head.end + 7], &head).expect("answer");
        assert_eq!((response.status, response.header("content-length"), response.body.as_slice()), (422, Some("7"), &b"{\"a\":1}"[..]));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ndate: x\r\n\r\n").is_err(), "no content-length");
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }
}
