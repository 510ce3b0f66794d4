//! What the scripted runs on real prices share (`day`, `crisis`): commands with per-principal ids,
//! prices as the decimal text of a print, an option series of the broker's own venue at a chosen
//! strike and expiry, a fresh directory for a journal, and submitting a script through the node.

use anyhow::{Context, Result, bail};
use engine::markets::{OrderKind, OrderSide};
use engine::{Command, Envelope, Outcome};
use model::{Config, MarketKind, OptionRight};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const HOUR_MS: u64 = 3_600_000;
pub const MINUTE_MS: u64 = 60_000;
pub const CUSTODIAN: &str = "ethereum";

/// A USD price as the decimal text of a print (two decimals: the data's hourly closes are
/// floats; the engine's prices are exact from here on).
pub fn usd(p: f64) -> String {
    format!("{p:.2}")
}

/// The milliseconds of an hour of the data.
pub fn hour_ms(h: marketdata::Hour) -> Result<u64> {
    u64::try_from(h.0).ok().and_then(|h| h.checked_mul(HOUR_MS)).context("an hour before 1970")
}

/// Commands with per-principal ids.
#[derive(Default)]
pub struct Script {
    pub lines: Vec<Envelope>,
    pub ids: BTreeMap<String, u64>,
}

impl Script {
    pub fn send(&mut self, client: &str, command: Command) {
        let id = self.ids.entry(client.to_string()).or_default();
        *id += 1;
        self.lines.push(Envelope { client: client.into(), id: *id, command });
    }

    pub fn op(&mut self, command: Command) {
        self.send("operator", command);
    }

    pub fn price(&mut self, symbol: &str, p: f64) {
        self.op(Command::SetPrice { symbol: symbol.into(), price_usd: usd(p) });
    }

    pub fn deposit(&mut self, owner: &str, asset: &str, amount: &str) {
        let external_ref = format!("0x{owner}-{asset}");
        let account = format!("{owner}/main");
        self.op(Command::Deposit { account, asset: asset.into(), amount: amount.into(), custodian: CUSTODIAN.into(), external_ref });
    }

    pub fn order(&mut self, owner: &str, market: &str, side: OrderSide, kind: OrderKind, price: Option<String>, qty: &str) {
        let cid = self.ids.get(owner).copied().unwrap_or(0) + 1;
        let account = format!("{owner}/main");
        self.send(owner, Command::PlaceOrder { account, market: market.into(), client_order_id: cid, side, kind, price, qty: qty.into() });
    }

    pub fn withdraw(&mut self, owner: &str, amount: &str, id: &str) {
        let account = format!("{owner}/main");
        let (asset, custodian, destination) = ("USDC".to_string(), CUSTODIAN.to_string(), format!("0x{owner}"));
        self.send(
            owner,
            Command::RequestWithdrawal { account, asset, amount: amount.into(), custodian, destination, withdrawal_id: id.into() },
        );
    }
}

/// Replaces the configured option series by one ETH call of the broker's own venue at `strike`
/// expiring at `expiry` (a copy of the configured call's market and instrument); its market id.
pub fn with_one_call(c: &mut Config, strike: f64, expiry: marketdata::Hour) -> Result<String> {
    let call =
        c.markets.iter().find(|m| m.kind == MarketKind::Option && m.right == Some(OptionRight::Call)).context("no call market to copy")?;
    let inst = call.instrument.as_deref().and_then(|i| c.instrument(i)).context("the call's instrument")?;
    let id = format!("ETH-{}-{strike:.0}-C", expiry.to_date().replace('-', ""));
    let (mut market, mut instrument) = (call.clone(), inst.clone());
    market.id = id.clone();
    market.instrument = Some(format!("{id}@clearhouse"));
    market.strike = Some(format!("{strike:.0}"));
    market.expiry = Some(expiry.to_iso());
    instrument.id = format!("{id}@clearhouse");
    instrument.strike_usd = Some(format!("{strike:.0}"));
    instrument.expiry = Some(expiry.to_iso());
    c.markets.retain(|m| m.kind != MarketKind::Option);
    c.markets.push(market);
    c.instruments.retain(|i| !(i.venue.as_deref() == Some(risk::arrays::OWN_VENUE) && i.expiry.is_some()));
    c.instruments.push(instrument);
    Ok(id)
}

/// A configuration checked to survive its TOML text (what is written beside the journal).
pub fn checked_toml(c: &Config) -> Result<String> {
    let text = c.to_toml().context("writing the configuration")?;
    let checked = Config::from_toml(&text).context("the written configuration")?;
    if &checked != c {
        bail!("the configuration does not survive its TOML text");
    }
    Ok(text)
}

/// A fresh directory for a journal under the system's temporary directory.
pub fn temp_dir(prefix: &str) -> Result<PathBuf> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("clearhouse-{prefix}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The `type` of a command, for messages.
pub fn kind_of(command: &Command) -> String {
    serde_json::to_value(command).ok().and_then(|v| v.get("type").and_then(|t| t.as_str()).map(String::from)).unwrap_or_default()
}

/// Submits `lines` through the node's journal; `seen` gets each command with its outcome. A
/// refused command (not journalled) is an error.
pub fn submit(node: &mut node::Node, lines: &[Envelope], seen: &mut dyn FnMut(&Envelope, &Outcome) -> Result<()>) -> Result<()> {
    for (envelope, ack) in lines.iter().zip(node.submit_batch(lines)?) {
        if let Outcome::Refused { error } = &ack.outcome {
            bail!("{} {} refused: {error}", envelope.client, kind_of(&envelope.command));
        }
        seen(envelope, &ack.outcome)?;
    }
    Ok(())
}
