//! `clearhouse client ...`: the signed API from the command line, through `server::client`
//! (the same signer and HTTP client the tests and the load example use). The key is a file of
//! 64 hex digits (an ed25519 secret key, written 0600 by `keygen`); the key id is `--name`.
//! Every answer is printed as JSON; a 4xx or 5xx answer is an error naming the server's code.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use server::client::{Client, Signer};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ClientArgs {
    /// The service's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub server: std::net::SocketAddr,
    /// The principal (key id) that signs.
    #[arg(long, default_value = "operator")]
    pub name: String,
    /// File with the secret key (64 hex digits).
    #[arg(long, default_value = "clearhouse.key")]
    pub key_file: PathBuf,
    #[command(subcommand)]
    pub command: ClientCmd,
}

#[derive(Subcommand, Debug)]
pub enum ClientCmd {
    /// Write a new secret key to --key-file (refuses to overwrite) and print its public key.
    Keygen,
    /// Ask for the key of --name to be registered (the operator confirms it).
    Register,
    /// Operator: confirm a registration.
    Confirm { name: String },
    /// Open the account `<name>/<sub>`.
    Open { sub: String },
    /// Operator: credit a deposit seen at a custodian.
    Deposit {
        account: String,
        asset: String,
        amount: String,
        #[arg(long, default_value = "ethereum")]
        custodian: String,
        /// Chain reference (the deposit is idempotent on it).
        #[arg(long)]
        external_ref: String,
    },
    /// Place an order.
    Order {
        account: String,
        market: String,
        /// buy or sell.
        side: String,
        qty: String,
        #[arg(long)]
        price: Option<String>,
        /// limit, market, immediate_or_cancel, fill_or_kill or post_only.
        #[arg(long, default_value = "limit")]
        kind: String,
        #[arg(long, default_value_t = 1)]
        client_order_id: u64,
    },
    /// Cancel an open order.
    Cancel { account: String, market: String, order_id: u64 },
    /// Balances of an account (`owner/sub`).
    Balances { account: String },
    /// Derivative positions and borrows.
    Positions { account: String },
    /// The engine's margin and its explanation.
    Margin { account: String },
    /// Margin after one hypothetical trade.
    Simulate { account: String, market: String, side: String, qty: String },
    /// The account's statement (reconciled).
    Statement { account: String },
    /// The WebSocket stream, one JSON message per line: prices, trades and depth for everyone,
    /// and (signed as --name) the events of that owner's accounts.
    Stream {
        /// Stop after this many messages (the first is `hello`); without it, until the server closes.
        #[arg(long)]
        count: Option<u64>,
        /// Subscribe without signing: public market data only.
        #[arg(long)]
        public: bool,
    },
}

fn read_key(args: &ClientArgs) -> Result<Signer> {
    let text = std::fs::read_to_string(&args.key_file).with_context(|| format!("reading the key file {}", args.key_file.display()))?;
    let seed = server::auth::unhex::<32>(text.trim())
        .with_context(|| format!("{}: expected 64 hex digits (an ed25519 secret key)", args.key_file.display()))?;
    Ok(Signer::from_seed(&args.name, seed))
}

fn keygen(args: &ClientArgs) -> Result<()> {
    if args.key_file.exists() {
        bail!("{} exists; not overwriting a key", args.key_file.display());
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness for the key: {e}"))?;
    crate::write_secret(&args.key_file, &server::auth::hex(&seed))?;
    println!("{}", serde_json::json!({ "key_file": args.key_file, "public_key": Signer::from_seed(&args.name, seed).public_key_hex() }));
    Ok(())
}

/// (method, path, body) of a request.
fn request(args: &ClientArgs, signer: &Signer) -> Result<(&'static str, String, serde_json::Value)> {
    use serde_json::json;
    let account_path = |account: &str, what: &str| -> Result<String> {
        let (owner, sub) = account.split_once('/').context("an account is owner/sub")?;
        Ok(format!("/v1/accounts/{owner}/{sub}/{what}"))
    };
    Ok(match &args.command {
        ClientCmd::Keygen | ClientCmd::Stream { .. } => bail!("{:?} sends no HTTP request", args.command),
        ClientCmd::Register => ("POST", "/v1/registrations".into(), json!({ "name": args.name, "public_key": signer.public_key_hex() })),
        ClientCmd::Confirm { name } => ("POST", format!("/v1/registrations/{name}/confirm"), serde_json::Value::Null),
        ClientCmd::Open { sub } => ("POST", "/v1/accounts".into(), json!({ "sub": sub })),
        ClientCmd::Deposit { account, asset, amount, custodian, external_ref } => (
            "POST",
            "/v1/deposits".into(),
            json!({ "account": account, "asset": asset, "amount": amount, "custodian": custodian, "external_ref": external_ref }),
        ),
        ClientCmd::Order { account, market, side, qty, price, kind, client_order_id } => {
            let mut body =
                json!({ "account": account, "market": market, "client_order_id": client_order_id, "side": side, "kind": kind, "qty": qty });
            if let Some(price) = price {
                body["price"] = json!(price);
            }
            ("POST", "/v1/orders".into(), body)
        }
        ClientCmd::Cancel { account, market, order_id } => {
            ("DELETE", format!("/v1/orders/{order_id}?account={account}&market={market}"), serde_json::Value::Null)
        }
        ClientCmd::Balances { account } => ("GET", account_path(account, "balances")?, serde_json::Value::Null),
        ClientCmd::Positions { account } => ("GET", account_path(account, "positions")?, serde_json::Value::Null),
        ClientCmd::Margin { account } => ("GET", account_path(account, "margin")?, serde_json::Value::Null),
        ClientCmd::Statement { account } => ("GET", account_path(account, "statement")?, serde_json::Value::Null),
        ClientCmd::Simulate { account, market, side, qty } => (
            "POST",
            "/v1/margin/simulate".into(),
            json!({ "account": account, "trades": [{ "market": market, "side": side, "qty": qty }] }),
        ),
    })
}

pub fn run(args: ClientArgs) -> Result<()> {
    if matches!(args.command, ClientCmd::Keygen) {
        return keygen(&args);
    }
    if let ClientCmd::Stream { count, public } = args.command {
        let query = if public { String::new() } else { read_key(&args)?.stream_query() };
        return stream(args.server, &query, count);
    }
    let signer = read_key(&args)?;
    let (method, path, body) = request(&args, &signer)?;
    let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let response = runtime.block_on(async {
        let mut client = Client::new(args.server);
        client.signed(&signer, method, &path, &body).await
    });
    let response = response.with_context(|| format!("{method} {path} at {}", args.server))?;
    let text = String::from_utf8_lossy(&response.body);
    if response.status >= 400 {
        bail!("{method} {path}: {} {}: {text}", response.status, response.code());
    }
    println!("{text}");
    Ok(())
}

/// Prints the stream's text messages, one per line, until `count` or the server's close. A
/// refused upgrade (bad signature, too many subscribers) is an error with the server's status.
fn stream(server: std::net::SocketAddr, query: &str, count: Option<u64>) -> Result<()> {
    use futures_util::StreamExt;
    use std::io::Write;
    use tokio_tungstenite::tungstenite::Message;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let url = format!("ws://{server}/v1/stream{query}");
        let (mut socket, _) =
            tokio_tungstenite::connect_async(url.as_str()).await.with_context(|| format!("GET /v1/stream at {server}"))?;
        let mut out = std::io::stdout().lock();
        let mut seen = 0u64;
        while count.is_none_or(|c| seen < c) {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    writeln!(out, "{text}")?;
                    out.flush()?;
                    seen += 1;
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(anyhow::Error::new(e).context("reading the stream")),
            }
        }
        Ok(())
    })
}
