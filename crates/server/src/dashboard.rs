//! The dashboard: one HTML page and one script, embedded in the binary with `include_str!`, no
//! build step and no npm package (charts are drawn as inline SVG by the script itself). The
//! page signs its API requests in the browser with WebCrypto Ed25519; the secret key is given in
//! the URL fragment (`#name=alice&secret=HEX`), which browsers never send to the server.

use axum::http::header;
use axum::response::IntoResponse;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");

pub async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX_HTML)
}

pub async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], APP_JS)
}
