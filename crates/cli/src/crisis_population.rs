//! The crisis replay's population (`docs/crisis-replay.md`, "The population"): accounts drawn
//! from a seeded stream, opened through real commands (deposits, orders crossed with each other
//! or with the house's quote), in pairs so every derivative position has a generated
//! counterparty. The registered liquidator is opened first.

use crate::script::{Script, usd};
use anyhow::{Context, Result};
use engine::Command;
use engine::markets::{OrderKind, OrderSide};
use std::collections::BTreeMap;

/// A deterministic pseudo-random stream (no dependency, no clock).
struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let i = ((self.unit() * items.len() as f64) as usize).min(items.len() - 1);
        items[i]
    }
}

/// Collateral assets and their shares of an account's deposit.
type Collateral = &'static [(&'static str, f64)];
const USDC_ONLY: Collateral = &[("USDC", 1.0)];
/// A stablecoin book: a quarter in the settlement asset (perp order holds and payments are in
/// USDC), the rest in USDT and DAI.
const STABLES: Collateral = &[("USDC", 0.25), ("USDT", 0.4), ("DAI", 0.35)];

/// The kinds of pairs, drawn with equal weight (so leveraged perp pairs 3 in 8).
const KINDS: [&str; 8] = ["perp", "perp", "perp", "basis", "option", "stable", "lp", "steth"];
/// The configuration's constant-product LP share: priced every hour for reference. The
/// engine's risk model cannot value the share as a balance (`risk::arrays::compile` skips it:
/// it needs its pool's state), so LP hedgers hold a replica of an ETH/USDC pool instead.
pub const LP_SHARE: &str = "UNI-V2-ETH-DAI";

/// An LP hedger's replica of a constant-product ETH/USDC share of liquidity `liquidity`
/// (`sqrt(ETH x USDC)` of its reserves): at the price `P` it holds `liquidity / sqrt(P)` ETH.
#[derive(Debug, Clone, PartialEq)]
pub struct LpReplica {
    pub owner: String,
    pub liquidity: f64,
    /// The leveraged long its ETH-PERP hedge was sold to: the counterparty of its rebalances.
    pub long: String,
}

/// What the population needs after the opening: the count per kind, the LP replicas.
pub struct Opened {
    pub kinds: BTreeMap<String, u32>,
    pub replicas: Vec<LpReplica>,
}
/// Leverage of a stETH loop: stETH held over the loop's own equity.
const LOOP_LEVERAGE: [f64; 4] = [2.0, 3.0, 4.0, 5.0];

/// Collateral at the opening as a multiple of the position's initial margin then.
const CUSHIONS: [f64; 5] = [1.05, 1.15, 1.3, 1.6, 2.0];

/// Initial margin per USD of notional of one position held alone, long and short, by market
/// (read from the engine's margin what-if before the opening).
pub type ImRates = BTreeMap<String, (f64, f64)>;

/// The registered liquidator: an owner with USDC, approved by the operator.
pub fn liquidator(s: &mut Script) {
    new_account(s, crate::crisis::LIQUIDATOR_NAME);
    s.deposit(crate::crisis::LIQUIDATOR_NAME, "USDC", LIQUIDATOR_USDC);
    s.op(Command::RegisterLiquidator { account: format!("{}/main", crate::crisis::LIQUIDATOR_NAME), approved: true });
}
/// The liquidator's capital, USDC.
pub const LIQUIDATOR_USDC: &str = "5000000";

/// Opens `accounts` generated accounts (pairs; an odd last one is a USDC holder without a
/// position). Returns the count per kind. `steth_priced` says whether the day's risk model
/// prices stETH: before Lido's launch (December 2020) it does not, and a stETH loop's slot is
/// an ETH perp pair instead (nobody held stETH then; a deposit the model cannot value would also
/// leave the first day's cover-2 uncomputable).
pub fn open(
    s: &mut Script,
    seed: u64,
    accounts: u32,
    prices: &BTreeMap<&str, Vec<f64>>,
    call: &str,
    im: &ImRates,
    steth_priced: bool,
) -> Result<Opened> {
    let p = |symbol: &str| prices.get(symbol).and_then(|l| l.first()).copied().context("no opening price");
    let (eth, btc) = (p("ETH")?, p("BTC")?);
    let mut rng = Lcg(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut kinds = BTreeMap::new();
    let mut replicas = Vec::new();
    let rate = |market: &str| im.get(market).copied().context("no initial-margin rate for a market");
    for pair in 0..accounts / 2 {
        let (a, b) = (format!("a{:04}", 2 * pair), format!("a{:04}", 2 * pair + 1));
        new_account(s, &a);
        new_account(s, &b);
        let notional = 10_000.0 + rng.unit() * 190_000.0;
        let kind = match rng.pick(&KINDS) {
            "steth" if !steth_priced => "perp",
            k => k,
        };
        match kind {
            "perp" if rng.unit() < 0.5 => perp_pair(s, &mut rng, [&a, &b], "BTC-PERP", btc, notional, USDC_ONLY, rate("BTC-PERP")?),
            "perp" => perp_pair(s, &mut rng, [&a, &b], "ETH-PERP", eth, notional, USDC_ONLY, rate("ETH-PERP")?),
            "stable" => perp_pair(s, &mut rng, [&a, &b], "ETH-PERP", eth, notional, STABLES, rate("ETH-PERP")?),
            "basis" => basis(s, &mut rng, &a, &b, eth, rate("ETH-PERP")?),
            "lp" => replicas.push(lp_hedger(s, &mut rng, [&a, &b], eth, notional, rate("ETH-PERP")?)),
            "steth" => steth_loop(s, &mut rng, [&a, &b], p("stETH")?, eth, notional, rate("ETH-PERP")?),
            _ => option(s, &mut rng, &a, &b, eth, call, rate(call)?)?,
        }
        let label = match kind {
            "perp" => "leveraged perp pairs (long + short)",
            "stable" => "stablecoin books (USDC, USDT and DAI collateral, ETH perp pair)",
            "basis" => "basis traders (spot long + perp short, with a leveraged long)",
            "lp" => "LP hedgers (constant-product ETH/USDC replica rebalanced hourly + ETH-PERP short of its delta, with a leveraged long)",
            "steth" => "stETH loops (stETH collateral + ETH-PERP short as the ETH borrow, with a leveraged long)",
            _ => "option sellers (with a buyer)",
        };
        *kinds.entry(label.to_string()).or_insert(0) += 1;
    }
    if accounts % 2 == 1 {
        let owner = format!("a{:04}", accounts - 1);
        new_account(s, &owner);
        s.deposit(&owner, "USDC", "10000");
        *kinds.entry("USDC holders without a position".to_string()).or_insert(0) += 1;
    }
    Ok(Opened { kinds, replicas })
}

fn new_account(s: &mut Script, owner: &str) {
    s.op(Command::RegisterPrincipal { name: owner.into(), role: model::Role::Owner });
    s.op(Command::CreateAccount { owner: owner.into(), sub: "main".into() });
}

/// Tick and lot of the markets the population trades (the default configuration's).
fn price_text(market: &str, p: f64) -> String {
    if market.starts_with("BTC") { format!("{p:.1}") } else { usd(p) }
}

fn qty_text(market: &str, q: f64) -> String {
    if market.starts_with("BTC") { format!("{q:.4}") } else { format!("{q:.3}") }
}

/// `long` buys `notional` of `market` from `short` at the index, each with collateral in
/// `collateral` of its initial margin times its own cushion; what the maker has left resting
/// (the taker refused for margin) is cancelled.
#[allow(clippy::too_many_arguments)]
fn perp_pair(
    s: &mut Script,
    rng: &mut Lcg,
    [long, short]: [&str; 2],
    market: &str,
    index: f64,
    notional: f64,
    collateral: Collateral,
    im: (f64, f64),
) {
    let (cl, cs) = (rng.pick(&CUSHIONS), rng.pick(&CUSHIONS));
    for (asset, share) in collateral {
        s.deposit(long, asset, &format!("{:.0}", notional * im.0 * cl * share));
        s.deposit(short, asset, &format!("{:.0}", notional * im.1 * cs * share));
    }
    cross(s, long, short, market, price_text(market, index), &qty_text(market, notional / index));
}

/// `maker` sells `qty` at `price`, `taker` buys it; the maker's rest is cancelled.
fn cross(s: &mut Script, taker: &str, maker: &str, market: &str, price: String, qty: &str) {
    s.order(maker, market, OrderSide::Sell, OrderKind::Limit, Some(price.clone()), qty);
    s.order(taker, market, OrderSide::Buy, OrderKind::Limit, Some(price), qty);
    s.send(maker, Command::CancelAllOrders { account: format!("{maker}/main"), market: market.into() });
}

/// `basis` buys up to 5 ETH from the house's quote and sells the same quantity of ETH-PERP to
/// `long`, a leveraged long.
fn basis(s: &mut Script, rng: &mut Lcg, basis: &str, long: &str, eth: f64, im: (f64, f64)) {
    let qty = qty_text("ETH", 1.0 + rng.unit() * 4.0);
    let q: f64 = qty.parse().unwrap_or(1.0);
    let cl = rng.pick(&CUSHIONS);
    s.deposit(basis, "USDC", &format!("{:.0}", q * eth * 1.3));
    s.deposit(long, "USDC", &format!("{:.0}", q * eth * im.0 * cl));
    s.order(basis, "ETH/USDC", OrderSide::Buy, OrderKind::Market, None, &qty);
    cross(s, long, basis, "ETH-PERP", usd(eth), &qty);
}

/// `seller` writes calls (at the money, a week past the window) to `buyer` at intrinsic value
/// plus 5% of the spot, with its initial margin times a cushion.
fn option(s: &mut Script, rng: &mut Lcg, seller: &str, buyer: &str, eth: f64, call: &str, im: (f64, f64)) -> Result<()> {
    let strike: f64 = call.split('-').nth(2).and_then(|k| k.parse().ok()).context("the call's strike")?;
    let q = (1.0 + rng.unit() * 19.0).floor();
    let premium = (eth - strike).max(0.0) + 0.05 * eth;
    s.deposit(seller, "USDC", &format!("{:.0}", q * eth * im.1 * rng.pick(&CUSHIONS)));
    s.deposit(buyer, "USDC", &format!("{:.0}", q * premium * 1.2));
    cross(s, buyer, seller, call, format!("{premium:.1}"), &format!("{q:.2}"));
    Ok(())
}

/// `hedger` deposits the reserves of a constant-product ETH/USDC share worth `notional` (half
/// ETH, half USDC: liquidity `notional / (2 sqrt(eth))`) and sells ETH-PERP of its ETH delta to
/// `long`, a leveraged long. The replica is rebalanced like the pool every hour against the
/// house's quote ([`rebalance`]); its hedge is rebalanced on a band ([`rebalance_hedge`]). The
/// perp's margin is in USDC, besides the reserve.
fn lp_hedger(s: &mut Script, rng: &mut Lcg, [hedger, long]: [&str; 2], eth: f64, notional: f64, im: (f64, f64)) -> LpReplica {
    let half = notional / 2.0;
    let (ch, cl) = (rng.pick(&CUSHIONS), rng.pick(&CUSHIONS));
    let eth_qty = qty_text("ETH", half / eth);
    s.deposit(hedger, "ETH", &eth_qty);
    s.deposit(hedger, "USDC", &format!("{:.0}", half + half * im.1 * ch));
    s.deposit(long, "USDC", &format!("{:.0}", half * im.0 * cl));
    cross(s, long, hedger, "ETH-PERP", usd(eth), &eth_qty);
    LpReplica { owner: hedger.into(), liquidity: half / eth.sqrt(), long: long.into() }
}

/// The house quote's largest order (the crisis configuration's `size_max`), ETH.
const REBALANCE_ORDER_MAX: f64 = 5.0;
/// The smallest rebalancing order, USD.
const REBALANCE_NOTIONAL_MIN: f64 = 20.0;
/// Orders per replica and hour at most; what is left waits for the next hour.
const REBALANCE_ORDERS_MAX: u32 = 8;

/// Market orders that bring the replica's ETH from `held` to `liquidity / sqrt(eth)`, as the
/// pool would (it buys ETH as the price falls and sells as it rises), in orders of at most
/// [`REBALANCE_ORDER_MAX`]; an order under [`REBALANCE_NOTIONAL_MIN`] waits (the market's
/// `min_notional` is 10 USDC).
pub fn rebalance(s: &mut Script, r: &LpReplica, held: f64, eth: f64) {
    let mut rest = r.liquidity / eth.sqrt() - held;
    let side = if rest > 0.0 { OrderSide::Buy } else { OrderSide::Sell };
    for _ in 0..REBALANCE_ORDERS_MAX {
        if rest.abs().min(REBALANCE_ORDER_MAX) * eth < REBALANCE_NOTIONAL_MIN {
            break;
        }
        let q = rest.abs().min(REBALANCE_ORDER_MAX);
        s.order(&r.owner, "ETH/USDC", side, OrderKind::Market, None, &qty_text("ETH", q));
        rest -= q.copysign(rest);
    }
}

/// The LP hedge's band: the short is brought back to the pool's delta `liquidity / sqrt(P)`
/// when it is more than this fraction of the delta away from it (a Uniswap LP hedger's usual
/// 5-10% delta band: trading less often than the pool, paying less spread).
pub const HEDGE_BAND: f64 = 0.10;

/// The hedge's rebalance at `eth` when the short `short` (ETH, positive) is outside the band
/// around the pool's delta: crossed with the replica's leveraged long at the hour's price (the
/// long buys what the hedger sells, or sells back what it buys).
pub fn rebalance_hedge(s: &mut Script, r: &LpReplica, short: f64, eth: f64) {
    let delta = r.liquidity / eth.sqrt();
    let gap = delta - short;
    if gap.abs() <= HEDGE_BAND * delta || gap.abs() * eth < REBALANCE_NOTIONAL_MIN {
        return;
    }
    let qty = qty_text("ETH", gap.abs());
    if gap > 0.0 {
        cross(s, &r.long, &r.owner, "ETH-PERP", usd(eth), &qty);
    } else {
        cross(s, &r.owner, &r.long, "ETH-PERP", usd(eth), &qty);
    }
}

/// A stETH loop of `notional` (the stETH held) at a leverage `L`: `looper` deposits the stETH
/// and sells ETH-PERP worth `notional x (L - 1) / L` to `long` in place of the ETH borrow
/// (the engine lends no ETH on demand; a short perp has the debt's exposure to the ETH price).
/// The perp's margin is in USDC.
fn steth_loop(s: &mut Script, rng: &mut Lcg, [looper, long]: [&str; 2], steth: f64, eth: f64, notional: f64, im: (f64, f64)) {
    let leverage = rng.pick(&LOOP_LEVERAGE);
    let borrow = notional * (leverage - 1.0) / leverage;
    let (ch, cl) = (rng.pick(&CUSHIONS), rng.pick(&CUSHIONS));
    s.deposit(looper, "stETH", &format!("{:.6}", notional / steth));
    s.deposit(looper, "USDC", &format!("{:.0}", borrow * im.1 * ch));
    s.deposit(long, "USDC", &format!("{:.0}", borrow * im.0 * cl));
    cross(s, long, looper, "ETH-PERP", usd(eth), &qty_text("ETH", borrow / eth));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders(s: &Script) -> Vec<(String, OrderSide, String)> {
        s.lines
            .iter()
            .filter_map(|e| match &e.command {
                Command::PlaceOrder { side, qty, .. } => Some((e.client.clone(), *side, qty.clone())),
                _ => None,
            })
            .collect()
    }

    /// Liquidity 100 at ETH 10,000: the pool's delta is 100 / 100 = 1 ETH, the band 0.1. A
    /// short of 0.95 or 1.08 stays; a short of 0.8 sells 0.2 more to the long; a short of 1.25
    /// buys 0.25 back from it.
    #[test]
    fn the_lp_hedge_is_rebalanced_outside_its_band_only() {
        let r = LpReplica { owner: "lp".into(), liquidity: 100.0, long: "lo".into() };
        for inside in [0.95, 1.08] {
            let mut s = Script { lines: Vec::new(), ids: BTreeMap::new() };
            rebalance_hedge(&mut s, &r, inside, 10_000.0);
            assert!(s.lines.is_empty(), "{inside} is within the band");
        }
        let mut s = Script { lines: Vec::new(), ids: BTreeMap::new() };
        rebalance_hedge(&mut s, &r, 0.8, 10_000.0);
        assert_eq!(orders(&s), vec![("lp".into(), OrderSide::Sell, "0.200".into()), ("lo".into(), OrderSide::Buy, "0.200".into())]);
        let mut s = Script { lines: Vec::new(), ids: BTreeMap::new() };
        rebalance_hedge(&mut s, &r, 1.25, 10_000.0);
        assert_eq!(orders(&s), vec![("lo".into(), OrderSide::Sell, "0.250".into()), ("lp".into(), OrderSide::Buy, "0.250".into())]);
    }
}
