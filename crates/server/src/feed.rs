//! The price feed: a task that journals `set_price` (ETH, stETH, USDC) and `advance_time` as the
//! node's feed principal (`feed`, an operator registered at first start), one history hour per
//! tick, at a configurable speed (`docs/service.md`, "Price feed").
//!
//! Sources: the real hourly history (`price:ETH`, `peg:stETH` in ETH, `peg:USDC` in USD from the
//! market-data directory through `risk::MarketData`), replayed from `--feed-start` on a fresh
//! journal or from the hour after the engine's clock on a restart; or, where the history is
//! absent, a seeded synthetic feed: geometric Brownian motion for ETH with the current EWMA
//! volatility of `price:ETH` from the committed calibration
//! (`crates/marketdata/calibration/default.json`), pegs held at their calibrated last levels.
//! Prices are f64 only here, at the edge; the engine receives decimal strings.

use crate::core::Core;
use crate::error::{Result, ServerError};
use engine::{Command, Envelope, Outcome};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub const FEED_PRINCIPAL: &str = "feed";
pub const HOUR_MS: u64 = 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedMode {
    /// History if the market-data directory is there, synthetic otherwise (said at start).
    Auto,
    History,
    Synthetic,
    Off,
}

#[derive(Debug, Clone)]
pub struct FeedSettings {
    pub mode: FeedMode,
    /// History hours replayed per wall-clock second.
    pub hours_per_second: f64,
    /// First hour on a fresh journal (`YYYY-MM-DDTHH:00:00Z`); the history's must lie inside it.
    pub start: String,
    pub seed: u64,
}

/// Where prices come from.
pub enum Source {
    History { start_hour: i64, hours: Vec<i64>, eth: Vec<f64>, steth_in_eth: Vec<f64>, usdc: Vec<f64> },
    Synthetic { start_hour: i64, eth0: f64, vol_annual: f64, steth_in_eth: f64, usdc: f64, seed: u64 },
}

impl Source {
    pub fn from_panel(panel: &marketdata::FactorPanel, start: &str) -> Result<Source> {
        let err = |e: marketdata::MarketDataError| ServerError::Startup { detail: format!("feed history: {e}") };
        let start_hour = marketdata::time::parse_hour(start, "--feed-start").map_err(err)?.0;
        let (eth, steth, usdc) = (
            panel.factor_index("price:ETH").map_err(err)?,
            panel.factor_index("peg:stETH").map_err(err)?,
            panel.factor_index("peg:USDC").map_err(err)?,
        );
        let hours: Vec<i64> = (0..panel.len()).map(|i| panel.time(i).0).collect();
        let level = |f: usize| (0..panel.len()).map(|i| panel.natural_level(f, i)).collect::<Vec<f64>>();
        if hours.first().is_none_or(|h| start_hour < *h) || hours.last().is_none_or(|h| start_hour > *h) {
            return Err(ServerError::Startup { detail: format!("--feed-start {start} is outside the history") });
        }
        Ok(Source::History { start_hour, hours, eth: level(eth), steth_in_eth: level(steth), usdc: level(usdc) })
    }

    pub fn synthetic(seed: u64) -> Result<Source> {
        let c =
            marketdata::calibration::Calibration::embedded().map_err(|e| ServerError::Startup { detail: format!("calibration: {e}") })?;
        let factor = |name: &str| {
            c.factors.iter().find(|f| f.name == name).ok_or_else(|| ServerError::Startup { detail: format!("calibration has no {name}") })
        };
        let eth = factor("price:ETH")?;
        Ok(Source::Synthetic {
            start_hour: c.data_end.0,
            eth0: eth.level_at_end.exp(),
            vol_annual: eth.current_ewma_vol_annual,
            steth_in_eth: factor("peg:stETH")?.level_at_end,
            usdc: factor("peg:USDC")?.level_at_end,
            seed,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Source::History { .. } => "history",
            Source::Synthetic { .. } => "synthetic (GBM, calibrated vol)",
        }
    }

    /// The hour and prices (ETH, stETH, USDC in USD) that follow the engine's clock and the
    /// last ETH price; `None` when the history is exhausted.
    fn next(&self, now_ms: u64, last_eth: Option<f64>) -> Option<(i64, [f64; 3])> {
        match self {
            Source::History { start_hour, hours, eth, steth_in_eth, usdc } => {
                let want = if now_ms == 0 { *start_hour } else { (now_ms / HOUR_MS) as i64 + 1 };
                let i = hours.partition_point(|h| *h < want);
                let hour = *hours.get(i)?;
                Some((hour, [eth[i], eth[i] * steth_in_eth[i], usdc[i]]))
            }
            Source::Synthetic { start_hour, eth0, vol_annual, steth_in_eth, usdc, seed } => {
                let hour = if now_ms == 0 { *start_hour } else { (now_ms / HOUR_MS) as i64 + 1 };
                let previous = last_eth.unwrap_or(*eth0);
                let dt = 1.0 / 8760.0;
                let z = normal(seed ^ (hour as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let eth = previous * ((-0.5 * vol_annual * vol_annual) * dt + vol_annual * dt.sqrt() * z).exp();
                Some((hour, [eth, eth * steth_in_eth, *usdc]))
            }
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): one well-mixed u64 from a seed.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A standard normal draw by Box-Muller from two SplitMix64 uniforms of `seed`.
fn normal(seed: u64) -> f64 {
    let a = splitmix(seed);
    let b = splitmix(a);
    let u1 = ((a >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let u2 = ((b >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Ids of the feed's commands: strictly increasing, above any earlier run's (wall-clock µs).
struct Ids {
    last: u64,
}

impl Ids {
    fn next(&mut self) -> u64 {
        let now_us = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        self.last = (self.last + 1).max(now_us);
        self.last
    }
}

/// Registers the feed principal once (as the operator), so the feed's ids never crowd the
/// operator's session window.
pub async fn ensure_principal(core: &Core) -> Result<()> {
    if core.read(|e| e.principals().contains_key(FEED_PRINCIPAL))? {
        return Ok(());
    }
    let id = Ids { last: 0 }.next();
    let command = Command::RegisterPrincipal { name: FEED_PRINCIPAL.into(), role: model::Role::Operator };
    let ack = core.submit(Envelope { client: engine::DEFAULT_PRINCIPAL.into(), id, command }).await?;
    match ack.outcome {
        Outcome::Applied { .. } => Ok(()),
        other => Err(ServerError::Startup {
            detail: format!("registering the feed principal: {}", serde_json::to_string(&other).unwrap_or_default()),
        }),
    }
}

/// Installs `model` as the feed principal (an operator), part by part, unless the engine
/// already has it; a refusal or rejection stops the start.
pub async fn install_risk_model(core: &Core, model: &margin_core::RiskModel) -> Result<()> {
    if core.read(|e| e.risk_model_digest())? == model.digest() {
        return Ok(());
    }
    let mut ids = Ids { last: 0 };
    for command in engine::risk_model_parts(model) {
        let ack = core.submit(Envelope { client: FEED_PRINCIPAL.into(), id: ids.next(), command }).await?;
        if !matches!(ack.outcome, Outcome::Applied { .. }) {
            let outcome = serde_json::to_string(&ack.outcome).unwrap_or_default();
            return Err(ServerError::Startup { detail: format!("installing the risk model: {outcome}") });
        }
    }
    tracing::info!(label = %model.label, "risk model installed");
    Ok(())
}

/// Runs until `stop` turns true or the history ends.
pub async fn run(core: Arc<Core>, source: Source, hours_per_second: f64, mut stop: watch::Receiver<bool>) {
    let tick = Duration::from_secs_f64(1.0 / hours_per_second.max(1e-3));
    let mut ids = Ids { last: 0 };
    loop {
        if *stop.borrow() {
            return;
        }
        match step(&core, &source, &mut ids).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!("the feed's history is exhausted; the feed stops and prices stay where they are");
                return;
            }
            Err(ServerError::ShuttingDown) => return,
            Err(e) => tracing::warn!(error = %e, "feed step failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One tick: the next hour's prices and clock; `false` when the history is exhausted.
async fn step(core: &Core, source: &Source, ids: &mut Ids) -> Result<bool> {
    let (now_ms, last_eth) = core.read(|e| (e.now_ms(), e.price("ETH").and_then(|(p, _)| p.to_string().parse::<f64>().ok())))?;
    let Some((hour, [eth, steth, usdc])) = source.next(now_ms, last_eth) else { return Ok(false) };
    let hour_ms = u64::try_from(hour).map_err(ServerError::internal)? * HOUR_MS;
    let commands = [
        Command::AdvanceTime { now_ms: hour_ms },
        Command::SetPrice { symbol: "ETH".into(), price_usd: format!("{eth:.6}") },
        Command::SetPrice { symbol: "stETH".into(), price_usd: format!("{steth:.6}") },
        Command::SetPrice { symbol: "USDC".into(), price_usd: format!("{usdc:.6}") },
    ];
    for command in commands {
        let ack = core.submit(Envelope { client: FEED_PRINCIPAL.into(), id: ids.next(), command }).await?;
        if !matches!(ack.outcome, Outcome::Applied { .. }) {
            tracing::warn!(outcome = %serde_json::to_string(&ack.outcome).unwrap_or_default(), "feed command not applied");
        }
    }
    let insurance = core.read(|e| e.valuation(engine::INSURANCE).map(|v| v.total_usd))?;
    if let (Ok(value), Ok(mut history)) = (insurance, core.history.lock()) {
        history.sample_insurance(hour_ms, value);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_draws_have_unit_variance_and_zero_mean() {
        let n = 20_000;
        let draws: Vec<f64> = (0..n).map(|i| normal(splitmix(i))).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // Standard errors: mean 1/sqrt(n) = 0.007, variance sqrt(2/n) = 0.01.
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.04, "variance {var}");
    }

    #[test]
    fn synthetic_feed_is_seeded_and_moves_by_its_volatility() {
        let source = Source::Synthetic { start_hour: 480_000, eth0: 2000.0, vol_annual: 0.8, steth_in_eth: 0.999, usdc: 1.0, seed: 7 };
        let (h0, p0) = source.next(0, None).expect("synthetic never ends");
        assert_eq!(h0, 480_000);
        assert_eq!(source.next(0, None), Some((h0, p0)), "same seed, same path");
        assert!((p0[1] / p0[0] - 0.999).abs() < 1e-12);
        let mut price = p0[0];
        let mut sum_sq = 0.0;
        let hours = 8760;
        for k in 1..=hours {
            let (_, p) = source.next((h0 as u64 + k - 1) * HOUR_MS, Some(price)).expect("never ends");
            sum_sq += (p[0] / price).ln().powi(2);
            price = p[0];
        }
        let realised = (sum_sq / hours as f64 * 8760.0).sqrt();
        assert!((realised - 0.8).abs() < 0.05, "realised annual vol {realised}");
    }
}
