//! `clearhouse crisis-replay [--episode NAME|all] [--accounts N] [--seed S] [--out DIR]`: the
//! crisis replay through the engine (`docs/crisis-replay.md`).
//!
//! Per episode: a window of hourly real prices from the market-data directory (ETH, BTC and the
//! pegs of USDC, USDT and DAI), a configuration with `[liquidation]` on, a risk model compiled as
//! of the day before the window (the broker's own venue assumed live) and recompiled every day
//! of it, a seeded population opened through real commands, then every hour: the clock, the
//! prints, and ten minutes later the registered liquidator's bids. Everything goes through a
//! fresh SQLite journal with its configuration beside it (`clearhouse verify` replays it). The
//! table is read from the engine's events and balances only; the plot is a small SVG.

use crate::script::{HOUR_MS, MINUTE_MS, Script, checked_toml, hour_ms, usd, with_one_call};
use anyhow::{Context, Result, bail};
use engine::{Command, Event, Health, Outcome};
use model::{Config, MarketKind};
use money::{Amount, Rounding, Scale, UsdPrice, UsdValue};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct CrisisArgs {
    /// 2020-03, 2022-05, 2022-06, 2022-11, 2023-03 or all.
    #[arg(long, default_value = "all")]
    pub episode: String,
    /// Generated accounts per episode (besides the liquidator).
    #[arg(long, default_value_t = 100)]
    pub accounts: u32,
    /// Seed of the population.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where the tables (tables.md) and the plots (EPISODE.svg) are written.
    #[arg(long, default_value = "docs/crisis-replay")]
    pub out: PathBuf,
    /// Directory for the journals (one sub-directory per episode, empty or new); default a
    /// fresh temporary directory.
    #[arg(long)]
    pub journal_dir: Option<PathBuf>,
    /// Hours between the house sending collateral to a venue and its arrival there (0 to 168).
    #[arg(long, default_value_t = crate::crisis_venues::DEFAULT_PARAMS.latency_hours)]
    pub venue_latency_hours: i64,
}

/// A crisis window: `hours` hourly prints from `from`.
pub struct Episode {
    pub name: &'static str,
    pub what: &'static str,
    pub from: &'static str,
    pub hours: i64,
}

pub const EPISODES: [Episode; 5] = [
    Episode { name: "2020-03", what: "Black Thursday", from: "2020-03-10T00:00:00Z", hours: 168 },
    Episode { name: "2022-05", what: "Terra/UST collapse", from: "2022-05-07T00:00:00Z", hours: 168 },
    Episode { name: "2022-06", what: "Celsius, 3AC, stETH discount", from: "2022-06-11T00:00:00Z", hours: 168 },
    Episode { name: "2022-11", what: "FTX collapse", from: "2022-11-06T00:00:00Z", hours: 168 },
    Episode { name: "2023-03", what: "SVB, USDC depeg", from: "2023-03-09T00:00:00Z", hours: 168 },
];

/// The panel factors read every hour (stETH's is its ratio to ETH).
const FACTORS: [(&str, &str); 6] = [
    ("ETH", "price:ETH"),
    ("BTC", "price:BTC"),
    ("USDC", "peg:USDC"),
    ("USDT", "peg:USDT"),
    ("DAI", "peg:DAI"),
    ("stETH/ETH", "peg:stETH"),
];
/// The symbols printed every hour: the factors' prices, stETH (its ratio times ETH) and the
/// LP share (`2 sqrt(ETH x DAI)`, see [`Prices::read`]).
const PRINTS: [&str; 7] = ["ETH", "BTC", "USDC", "USDT", "DAI", "stETH", crate::crisis_population::LP_SHARE];
pub const LIQUIDATOR_NAME: &str = "liq";
/// The liquidator bids once the auction's discount reaches this (basis points of the mark).
const BID_DISCOUNT_BPS: f64 = 200.0;

/// Runs the chosen episodes, writes `OUT/tables.md` and `OUT/EPISODE.svg`, prints the tables.
pub fn run(base: &Config, params: &risk::RiskParams, args: &CrisisArgs, out: &mut dyn Write) -> Result<()> {
    let episodes: Vec<&Episode> = EPISODES.iter().filter(|e| args.episode == "all" || args.episode == e.name).collect();
    if episodes.is_empty() {
        bail!("unknown episode {:?}: one of 2020-03, 2022-05, 2022-06, 2022-11, 2023-03, all", args.episode);
    }
    if args.accounts < 2 {
        bail!("--accounts must be at least 2");
    }
    if !(0..=168).contains(&args.venue_latency_hours) {
        bail!("--venue-latency-hours must be 0 to 168");
    }
    let data = risk::MarketData::load_for(base, params).with_context(|| {
        format!(
            "the crisis replay needs the market-data directory (set {}); it has no synthetic fallback",
            marketdata::loader::DATA_DIR_ENV
        )
    })?;
    let root = match &args.journal_dir {
        Some(d) => d.clone(),
        None => crate::script::temp_dir("crisis")?,
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut tables = String::new();
    for ep in episodes {
        let dir = root.join(ep.name);
        let report = run_episode(base, params, &data, ep, args, &dir)?;
        let svg = crate::crisis_svg::plot(ep, &report.path)?;
        std::fs::write(args.out.join(format!("{}.svg", ep.name)), svg).context("writing the plot")?;
        let table = report.markdown(ep);
        writeln!(out, "{table}")?;
        writeln!(out, "replay it: clearhouse --config {0}/config.toml --journal {0}/journal.sqlite verify\n", report.dir.display())?;
        tables.push_str(&table);
        tables.push_str(&format!("\n![insurance fund and ETH, {0}]({0}.svg)\n\n", ep.name));
    }
    let head = format!(
        "<!-- generated by `clearhouse crisis-replay --episode {} --accounts {} --seed {} --venue-latency-hours {}` -->\n\n",
        args.episode, args.accounts, args.seed, args.venue_latency_hours
    );
    std::fs::write(args.out.join("tables.md"), head + &tables).context("writing tables.md")?;
    Ok(())
}

/// What one episode did, read from the engine.
pub struct Report {
    pub stats: Stats,
    /// Per hour: (hour, insurance fund in USD, ETH in USD).
    pub path: Vec<(i64, f64, f64)>,
    pub state_hash: String,
    pub final_seq: u64,
    pub dir: PathBuf,
    pub decimals: BTreeMap<String, u8>,
    /// The house's hedge legs at the end, and their P&L (USDC units): equity at the venues'
    /// last prices plus collateral in flight, minus everything sent.
    pub legs: Vec<crate::crisis_venues::Leg>,
    pub venue_pnl: i128,
    /// The legs' P&L not yet realised at the venues (equity minus the collateral on the
    /// ledger), valued at the last USDC print (USD, 18 decimals).
    pub venue_unrealised_usd: i128,
    /// The house's P&L by source (`crisis_pnl`), USD at 18 decimals, summing to the total.
    pub pnl_rows: Vec<(&'static str, i128)>,
}

/// Counts and exact sums from the events (USD amounts at 18 decimals, asset amounts in units).
#[derive(Default, Debug, Clone, PartialEq)]
pub struct Stats {
    pub accounts: u32,
    pub opened: u32,
    pub population: BTreeMap<String, u32>,
    pub flagged: u32,
    pub flagged_accounts: std::collections::BTreeSet<String>,
    pub started: u32,
    pub liquidator_fills: u32,
    pub house_takeovers: u32,
    pub bids: u32,
    pub penalties: BTreeMap<String, i128>,
    pub insurance_share: BTreeMap<String, i128>,
    /// (step, asset) -> amount in the asset's units.
    pub steps: BTreeMap<(String, String), i128>,
    /// Per bankrupt account and asset: the waterfall transfers it received.
    pub waterfall_transfers: BTreeMap<(String, String), i128>,
    pub socialised: u32,
    pub deleveraged: u32,
    pub rejected: BTreeMap<String, u32>,
    pub other_events: BTreeMap<String, u32>,
    /// `@insurance` valued after the opening, then after every hour (USD, 18 decimals).
    pub insurance_usd: Vec<i128>,
    pub house_start_usd: i128,
    /// `@insurance`'s seed: the first day's cover-2 figure, USDC units.
    pub insurance_seed_usdc: i128,
    /// Why the fund was not seeded, if it was not.
    pub insurance_seed_note: Option<String>,
    pub house_end_usd: i128,
}

struct Driver {
    node: node::Node,
    ids: BTreeMap<String, u64>,
    stats: Stats,
    decimals: BTreeMap<String, u8>,
    pnl: crate::crisis_pnl::Attribution,
}

impl Driver {
    fn submit(&mut self, s: Script) -> Result<()> {
        let Script { lines, ids } = s;
        self.ids = ids;
        let (stats, decimals, pnl) = (&mut self.stats, &self.decimals, &mut self.pnl);
        crate::script::submit(&mut self.node, &lines, &mut |envelope, outcome| {
            match outcome {
                Outcome::Rejected { error, .. } => {
                    let mut kind = crate::script::kind_of(&envelope.command);
                    if let Command::PlaceOrder { market, .. } = &envelope.command {
                        kind = format!("{kind} {market}");
                    }
                    *stats.rejected.entry(format!("{kind}: {}", error_kind(error))).or_default() += 1;
                }
                Outcome::Applied { events, .. } => {
                    for event in events {
                        stats.count(event, decimals)?;
                    }
                    pnl.record(events, decimals)?;
                }
                _ => {}
            }
            Ok(())
        })
    }

    fn script(&mut self) -> Script {
        Script { lines: Vec::new(), ids: std::mem::take(&mut self.ids) }
    }
}

/// The error's variant name (`InsufficientMargin`), without its numbers.
fn error_kind(error: &engine::EngineError) -> String {
    if let engine::EngineError::OrderRefused { reason, .. } = error {
        return format!("OrderRefused ({})", reason.split([':', '(']).next().unwrap_or_default().trim());
    }
    if let engine::EngineError::RiskModelUnknownName { name } = error {
        return format!("RiskModelUnknownName ({name})");
    }
    format!("{error:?}").split([' ', '{', '(']).next().unwrap_or_default().to_string()
}

fn units(amount: &str, decimals: u8) -> Result<i128> {
    Ok(money::parse_decimal(amount, Scale::new(decimals)?)?)
}

impl Stats {
    /// Tallies one event; the kinds the driver does not know are counted by name.
    fn count(&mut self, event: &Event, decimals: &BTreeMap<String, u8>) -> Result<()> {
        let dec = |asset: &str| decimals.get(asset).copied().context("an asset outside the configuration");
        match event {
            Event::HealthChanged { account, to: Health::Liquidation, .. } => {
                self.flagged += 1;
                self.flagged_accounts.insert(account.clone());
            }
            Event::LiquidationStarted { .. } => self.started += 1,
            Event::AuctionFilled { penalty, insurance_share, .. } => {
                self.liquidator_fills += 1;
                *self.penalties.entry("USDC".into()).or_default() += units(penalty, dec("USDC")?)?;
                *self.insurance_share.entry("USDC".into()).or_default() += units(insurance_share, dec("USDC")?)?;
            }
            Event::AuctionHouseTakeover { penalty, insurance_share, .. } => {
                self.house_takeovers += 1;
                *self.penalties.entry("USDC".into()).or_default() += units(penalty, dec("USDC")?)?;
                *self.insurance_share.entry("USDC".into()).or_default() += units(insurance_share, dec("USDC")?)?;
            }
            Event::WaterfallStep { step, asset, amount, .. } => {
                *self.steps.entry((step.clone(), asset.clone())).or_default() += units(amount, dec(asset)?)?;
            }
            Event::Transferred { credit, asset, amount, reason, .. } if format!("{reason:?}") == "Waterfall" => {
                *self.waterfall_transfers.entry((credit.clone(), asset.clone())).or_default() += units(amount, dec(asset)?)?;
            }
            // A socialised loss is advanced by the market's clearing account (`socialised`) and
            // charged to each holder as its position settles: the shares are those charges.
            Event::Settled { reason, .. } if reason == "socialised" => self.socialised += 1,
            Event::Socialised { .. } => {}
            Event::Deleveraged { .. } => self.deleveraged += 1,
            Event::HealthChanged { .. }
            | Event::PriceSet { .. }
            | Event::Transferred { .. }
            | Event::AuctionOpened { .. }
            | Event::LiquidationEnded { .. }
            | Event::OrderAccepted { .. }
            | Event::OrderFilled { .. }
            | Event::OrderRested { .. }
            | Event::OrderCancelled { .. }
            | Event::PrincipalRegistered { .. }
            | Event::AccountCreated { .. }
            | Event::LiquidatorRegistered { .. } => {}
            other => {
                let kind = serde_json::to_value(other)?.get("event").and_then(|k| k.as_str()).unwrap_or("?").to_string();
                *self.other_events.entry(kind).or_default() += 1;
            }
        }
        Ok(())
    }

    /// The deficit the waterfall covered, per asset: the sum of its steps.
    pub fn bad_debt(&self) -> BTreeMap<String, i128> {
        let mut out = BTreeMap::new();
        for ((_, asset), amount) in &self.steps {
            *out.entry(asset.clone()).or_insert(0) += amount;
        }
        out
    }
}

/// Hourly levels of the printed symbols over the window, hour 0 to `hours`.
struct Prices {
    levels: BTreeMap<&'static str, Vec<f64>>,
}

impl Prices {
    fn read(data: &risk::MarketData, start: marketdata::Hour, hours: i64) -> Result<Prices> {
        let risk::MarketData::Panel { panel, .. } = data else { bail!("the crisis replay needs the market-data panel") };
        let i0 = panel.index_of(start).with_context(|| format!("the market data does not cover {}", start.to_iso()))?;
        let i1 = panel
            .index_of(start.plus_hours(hours))
            .with_context(|| format!("the market data does not cover {}", start.plus_hours(hours).to_iso()))?;
        if i64::try_from(i1 - i0).ok() != Some(hours) {
            bail!("the market data's grid is not hourly over {} .. {}", start.to_iso(), start.plus_hours(hours).to_iso());
        }
        let mut levels: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
        for (symbol, factor) in FACTORS {
            let f = panel.factor_index(factor)?;
            levels.insert(symbol, (i0..=i1).map(|i| panel.natural_level(f, i)).collect());
        }
        let series = |s: &str| levels.get(s).cloned().context("a factor read above");
        let (eth, ratio, dai) = (series("ETH")?, series("stETH/ETH")?, series("DAI")?);
        levels.insert("stETH", eth.iter().zip(&ratio).map(|(e, r)| e * r).collect());
        // One unit of liquidity of a constant-product pool (sqrt(x y) = 1) holds sqrt(DAI/ETH)
        // ETH and sqrt(ETH/DAI) DAI: worth 2 sqrt(ETH x DAI) (fees left out).
        let share = eth.iter().zip(&dai).map(|(e, d)| 2.0 * (e * d).sqrt()).collect();
        levels.insert(crate::crisis_population::LP_SHARE, share);
        Ok(Prices { levels })
    }

    fn at(&self, symbol: &str, h: usize) -> f64 {
        self.levels.get(symbol).and_then(|l| l.get(h)).copied().unwrap_or(f64::NAN)
    }

    fn print(&self, s: &mut Script, h: usize) {
        for symbol in PRINTS {
            // Pegs to four decimals (a depeg of a few basis points is a price), others to cents.
            let p = self.at(symbol, h);
            let text = if p < 10.0 { format!("{p:.4}") } else { usd(p) };
            s.op(Command::SetPrice { symbol: symbol.into(), price_usd: text });
        }
    }
}

/// The episode's configuration: `[liquidation]` on, margin on (a model at most 48 hours old), a
/// house quote on ETH/USDC, one ETH call at the money expiring a week after the window, room for
/// the population.
pub fn crisis_config(base: &Config, eth0: f64, end: marketdata::Hour, accounts: u32) -> Result<(Config, String)> {
    let mut c = base.clone();
    c.engine.risk_model_max_age_ms = Some(48 * HOUR_MS);
    let call = with_one_call(&mut c, (eth0 / 10.0).round() * 10.0, end.plus_hours(24 * 7))?;
    let spot = c.markets.iter_mut().find(|m| m.id == "ETH/USDC").context("no ETH/USDC market")?;
    spot.house_quote = Some(model::HouseQuote { spread_bps: 20, size_max: "5".into(), exposure_max: "2000".into() });
    // Room for every account on a perp, and for the option pairs (a sixth of the pairs): the
    // journal bounds what one settlement may write, so no more than needed.
    for m in c.markets.iter_mut().filter(|m| m.kind != MarketKind::Spot) {
        let room = if m.kind == MarketKind::Option { accounts / 2 + 8 } else { accounts + 8 };
        m.positions_max = Some(m.positions_max.unwrap_or(0).max(room));
    }
    // The lending venue of the house's hedge legs holds its USDC collateral (`crisis_venues`).
    if !c.custodians.iter().any(|x| x.id == "aave") {
        c.custodians.push(model::Custodian {
            id: "aave".into(),
            kind: model::CustodianKind::Protocol,
            protocol: Some("aave".into()),
            assets: vec!["USDC".into()],
        });
    }
    c.limits.accounts_max = c.limits.accounts_max.max(accounts + 16);
    c.limits.principals_max = c.limits.principals_max.max(accounts + 16);
    c.limits.deposit_refs_max = c.limits.deposit_refs_max.max(u64::from(3 * accounts + 16));
    c.liquidation = Some(model::LiquidationConfig {
        target_ppm: 1_200_000,
        step_ppm: 500_000,
        throttle_ppm: 1_000_000,
        start_discount_bps: 50,
        growth_bps_per_s: 1,
        cap_bps: 300,
        duration_ms: 30 * MINUTE_MS,
        penalty_bps: 100,
        insurance_ppm: 500_000,
        accounts_per_command_max: 64,
        last_resort: model::LastResort::Socialise,
        insurance_fee_ppm: None,
    });
    checked_toml(&c).context("the crisis configuration")?;
    Ok((c, call))
}

/// One episode into `dir`.
pub fn run_episode(
    base: &Config,
    params: &risk::RiskParams,
    data: &risk::MarketData,
    ep: &Episode,
    args: &CrisisArgs,
    dir: &Path,
) -> Result<Report> {
    let start = marketdata::time::parse_hour(ep.from, "episode")?;
    let prices = Prices::read(data, start, ep.hours)?;
    let (config, call) = crisis_config(base, prices.at("ETH", 0), start.plus_hours(ep.hours), args.accounts)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("config.toml"), checked_toml(&config)?).context("writing the episode's configuration")?;
    let journal = crate::JournalLocation::Sqlite(dir.join("journal.sqlite"));
    let (node, _) = crate::open_node(&config, &journal, crate::Access::ReadWrite, Some(false))?;
    if node.engine().next_seq() > 2 {
        bail!("{} already holds a journal: give an empty --journal-dir", dir.display());
    }
    let decimals: BTreeMap<String, u8> = config.assets.iter().map(|a| (a.symbol.clone(), a.decimals)).collect();
    let pnl = crate::crisis_pnl::Attribution::new(&config);
    let mut d = Driver { node, ids: BTreeMap::new(), stats: Stats::default(), decimals: decimals.clone(), pnl };
    let model = |as_of: marketdata::Hour| -> Result<margin_core::RiskModel> {
        let (compiled, _) = risk::arrays::compile_assuming(&config, params, data, as_of, risk::arrays::VenueAssumption::OwnVenueLive)?;
        Ok(compiled.model)
    };
    let mut s = d.script();
    s.op(Command::AdvanceTime { now_ms: hour_ms(start)? });
    prices.print(&mut s, 0);
    let mut in_force = model(start.plus_hours(-24))?;
    for part in engine::risk_model_parts(&in_force) {
        s.op(part);
    }
    // The broker's own capital, observed at the `ethereum` custodian (docs/crisis-replay.md,
    // "The house's capital and the insurance fund").
    s.op(Command::DepositHouseCapital {
        asset: "USDC".into(),
        amount: HOUSE_CAPITAL_USDC.into(),
        custodian: HOUSE_CUSTODIAN.into(),
        external_ref: "house-capital".into(),
    });
    d.submit(s)?;
    d.stats.house_start_usd = house_equity(d.node.engine())?;
    let opening = house_cash(d.node.engine())?;
    d.pnl.on = true;
    let mut s = d.script();
    crate::crisis_population::liquidator(&mut s);
    d.submit(s)?;
    let rates = im_rates(d.node.engine(), &config, &prices)?;
    let mut s = d.script();
    let steth_priced = d.node.engine().risk_model().is_some_and(|m| m.instrument("stETH").is_some());
    let population = crate::crisis_population::open(&mut s, args.seed, args.accounts, &prices.levels, &call, &rates, steth_priced)?;
    d.stats.population = population.kinds;
    d.pnl.replicas = population.replicas.iter().map(|r| format!("{}/main", r.owner)).collect();
    d.stats.accounts = args.accounts;
    d.submit(s)?;
    d.stats.opened = opened(d.node.engine())?;
    // The fund is seeded with the first day's cover-2 figure; a transfer of the house's capital,
    // not a loss of it, so the house's starting equity is taken net of it.
    let seed = seed_insurance(&mut d)?;
    d.stats.house_start_usd -= seed;
    let fund = insurance_usd(d.node.engine())?;
    d.stats.insurance_usd.push(fund);
    let mut path = vec![(0, fund as f64 / 1e18, prices.at("ETH", 0))];
    let venue_params =
        crate::crisis_venues::VenueParams { latency_hours: args.venue_latency_hours, ..crate::crisis_venues::DEFAULT_PARAMS };
    let mut venues = crate::crisis_venues::Venues::new(&HEDGED, venue_params);
    venues.set_moves(&in_force, params.mpor_hours)?;
    hedge_on_venues(&mut venues, 0, &mut d, &prices, &in_force)?;
    for h in 1..=ep.hours {
        let now = hour_ms(start.plus_hours(h))?;
        let mut s = d.script();
        s.op(Command::AdvanceTime { now_ms: now });
        if h % 24 == 0 {
            in_force = model(start.plus_hours(h))?;
            venues.set_moves(&in_force, params.mpor_hours)?;
            for part in engine::risk_model_parts(&in_force) {
                s.op(part);
            }
        }
        prices.print(&mut s, h as usize);
        s.op(Command::AdvanceTime { now_ms: now + 10 * MINUTE_MS });
        d.submit(s)?;
        let s = rebalance_replicas(&mut d, &population.replicas, prices.at("ETH", h as usize))?;
        d.submit(s)?;
        let s = bids(&mut d);
        d.submit(s)?;
        hedge_on_venues(&mut venues, h, &mut d, &prices, &in_force)?;
        let fund = insurance_usd(d.node.engine())?;
        d.stats.insurance_usd.push(fund);
        path.push((h, fund as f64 / 1e18, prices.at("ETH", h as usize)));
    }
    let mut s = d.script();
    s.op(Command::AdvanceTime { now_ms: hour_ms(start.plus_hours(ep.hours + 1))? });
    d.submit(s)?;
    d.stats.house_end_usd = house_equity(d.node.engine())? + house_options_usd(d.node.engine(), &in_force)?;
    d.node.engine().check_invariants().map_err(|e| anyhow::anyhow!("invariant broken: {e}"))?;
    let final_seq = d.node.engine().next_seq() - 1;
    let (mut venue_pnl, mut venue_unrealised) = (0, 0);
    for l in &venues.legs {
        let equity = l.equity(venue_price(&prices, &l.underlying, ep.hours)?)?;
        venue_pnl += equity + l.in_flight.iter().map(|(_, a)| a).sum::<i128>() - l.sent;
        venue_unrealised += equity - l.collateral;
    }
    let venue_unrealised_usd = value(venue_unrealised, 6, price_of(d.node.engine(), "USDC")?)?;
    let pnl_rows = pnl_by_source(&d, &opening, &in_force, venue_unrealised_usd)?;
    Ok(Report {
        stats: d.stats,
        path,
        state_hash: node::hex(&d.node.state_hash()),
        final_seq,
        dir: dir.to_path_buf(),
        decimals,
        legs: venues.legs,
        venue_pnl,
        venue_unrealised_usd,
        pnl_rows,
    })
}

/// The LP replicas' hourly rebalancing (`crisis_population::rebalance`) and their hedges' on
/// the band (`crisis_population::rebalance_hedge`), at the hour's ETH.
fn rebalance_replicas(d: &mut Driver, replicas: &[crate::crisis_population::LpReplica], eth: f64) -> Result<Script> {
    let mut s = d.script();
    for r in replicas {
        let account = format!("{}/main", r.owner);
        let held = d.node.engine().valuation(&account)?.balances.iter().find(|b| b.asset == "ETH").map(|b| b.amount.parse::<f64>());
        crate::crisis_population::rebalance(&mut s, r, held.transpose()?.unwrap_or(0.0), eth);
        let perp = d.node.engine().positions_of(&account)?.into_iter().find(|p| p.market == "ETH-PERP");
        let short = -perp.map(|p| p.qty.parse::<f64>()).transpose()?.unwrap_or(0.0);
        crate::crisis_population::rebalance_hedge(&mut s, r, short, eth);
    }
    Ok(s)
}

/// The underlyings the house hedges on the venues.
const HEDGED: [&str; 2] = ["ETH", "BTC"];

/// The venue's price of an underlying at hour `h`: the hour's print (USDC units per whole).
fn venue_price(prices: &Prices, underlying: &str, h: i64) -> Result<i128> {
    let p = prices.at(underlying, usize::try_from(h)?);
    if !p.is_finite() || p <= 0.0 {
        bail!("no venue price of {underlying} at hour {h}");
    }
    units(&usd(p), 6)
}

/// The house's net position per hedged underlying (10^-18 units): its exposure from the
/// quote, its perp positions, and its options at their delta under `model`.
fn house_net(e: &engine::Engine, model: &margin_core::RiskModel) -> Result<BTreeMap<String, i128>> {
    let mut net = BTreeMap::new();
    for (asset, qty) in e.house_exposure() {
        let underlying = match asset.as_str() {
            "ETH" => "ETH",
            "WBTC" => "BTC",
            other => bail!("the house has an exposure in {other}, which the replay does not hedge"),
        };
        *net.entry(underlying.to_string()).or_insert(0) += units(&qty, 18)?;
    }
    for p in e.positions_of(engine::HOUSE)? {
        let market = e.config().markets.iter().find(|m| m.id == p.market).context("a position on an unknown market")?;
        // Options the house took over from liquidated option sellers are hedged at their delta.
        if market.kind == MarketKind::Option {
            let instrument = market.instrument.as_deref().context("an option market without an instrument")?;
            let delta = crate::crisis_venues::hedge_ratio(model, instrument, &market.base)?;
            let qty: f64 = p.qty.parse().context("an option position's quantity")?;
            // f64 risk math, to 10^-18 ETH once (docs/crisis-replay.md, "Options of the house").
            *net.entry(market.base.clone()).or_insert(0) += (qty * delta * 1e18).round() as i128;
            continue;
        }
        if market.kind != MarketKind::Perp || !HEDGED.contains(&market.base.as_str()) {
            bail!("the house holds a position on {}, which the replay does not hedge", p.market);
        }
        *net.entry(market.base.clone()).or_insert(0) += units(&p.qty, 18)?;
    }
    Ok(net)
}

/// One hour of the house's hedge legs: each underlying's net position hedged back to flat, the
/// venues' rules applied to the collateral on the ledger, and what changed booked on it.
fn hedge_on_venues(
    venues: &mut crate::crisis_venues::Venues,
    h: i64,
    d: &mut Driver,
    prices: &Prices,
    model: &margin_core::RiskModel,
) -> Result<()> {
    check_venue_ledger(venues, d.node.engine())?;
    let net = house_net(d.node.engine(), model)?;
    let hedge = |u: &str| -> Result<i128> { Ok(-net.get(u).copied().unwrap_or(0)) };
    let price = |u: &str| venue_price(prices, u, h);
    let liquidations_before: usize = venues.legs.iter().map(|l| l.liquidations.len()).sum();
    venues.step(h, &hedge, &price)?;
    let mut s = d.script();
    for venue in crate::crisis_venues::VENUES.map(|v| v.name) {
        let legs = venues.legs.iter_mut().filter(|l| l.spec.name == venue);
        let (mut arrived, mut collateral, mut liquidated) = (0, 0, 0);
        for l in legs {
            arrived += l.take_arrived();
            collateral += l.collateral;
            liquidated += l.liquidations.iter().filter(|x| x.hour == h).count();
        }
        book_venue(&mut s, d.node.engine(), venue, h, arrived, collateral, liquidated > 0)?;
    }
    d.submit(s)?;
    let after: usize = venues.legs.iter().map(|l| l.liquidations.len()).sum();
    assert!(after >= liquidations_before, "venue liquidations are only added");
    check_venue_ledger(venues, d.node.engine())
}

/// Books one venue's hour on the ledger: what arrived (`venue_fund` from the house's
/// custodian), then the collateral the venue reports (`venue_settled`: the P&L it realised on
/// resizes, and what it kept when it liquidated a leg).
fn book_venue(s: &mut Script, e: &engine::Engine, venue: &str, h: i64, arrived: i128, collateral: i128, liquidated: bool) -> Result<()> {
    let text = |units: i128| money::format_decimal(units, Scale::new(6).unwrap_or(money::USD_SCALE));
    if arrived > 0 {
        let amount = text(arrived);
        s.op(Command::VenueFund { venue: venue.into(), asset: "USDC".into(), amount, custodian: HOUSE_CUSTODIAN.into() });
    }
    let posted = e.venue_collateral(venue, "USDC")? + arrived;
    if collateral != posted {
        let external_ref = format!("{venue}-hour-{h}");
        s.op(Command::VenueSettled { venue: venue.into(), asset: "USDC".into(), balance: text(collateral), liquidated, external_ref });
    }
    Ok(())
}

/// The venues' rules run on the ledger's collateral: per venue, the legs' arrived collateral is
/// exactly what `@house/<venue>` holds (a refused booking would break this).
fn check_venue_ledger(venues: &crate::crisis_venues::Venues, e: &engine::Engine) -> Result<()> {
    for venue in crate::crisis_venues::VENUES.map(|v| v.name) {
        let legs: i128 = venues.legs.iter().filter(|l| l.spec.name == venue).map(|l| l.collateral).sum();
        let ledger = e.venue_collateral(venue, "USDC")?;
        if legs != ledger {
            bail!("the house's collateral at {venue} is {legs} USDC units by the venue and {ledger} on the ledger");
        }
    }
    Ok(())
}

/// The broker's own capital at the start of an episode (USDC), and where it is held.
const HOUSE_CAPITAL_USDC: &str = "10000000";
const HOUSE_CUSTODIAN: &str = "ethereum";

/// Seeds `@insurance` with the cover-2 figure after the opening (USDC at its print, rounded
/// up to the unit) from the house's capital; returns the seed's value (USD, 18 decimals).
fn seed_insurance(d: &mut Driver) -> Result<i128> {
    let report = match d.node.engine().clone().cover2_report() {
        Ok(report) => report,
        // An account holds an asset the day's model does not price (stETH before Lido's
        // launch): cover-2 cannot be computed, the fund is not seeded, and the table says why.
        Err(engine::EngineError::RiskModelUnknownName { name }) => {
            d.stats.insurance_seed_note = Some(format!("not seeded: cover-2 not computable, the model does not price {name}"));
            return Ok(0);
        }
        Err(e) => return Err(e.into()),
    };
    let cover2 = UsdValue::parse(&report.cover2_usd)?.0;
    let usdc = price_of(d.node.engine(), "USDC")?;
    let units = money::mul_div(cover2, 1_000_000, usdc.0, Rounding::Ceil)?;
    if units <= 0 {
        return Ok(0);
    }
    let mut s = d.script();
    let amount = money::format_decimal(units, Scale::new(6)?);
    s.op(Command::FundInsurance { asset: "USDC".into(), amount });
    d.submit(s)?;
    d.stats.insurance_seed_usdc = units;
    value(units, 6, usdc)
}

/// Initial margin per USD of notional of each derivative market's position held alone, long
/// and short: the standalone requirement of the engine's margin what-if (on the liquidator's
/// account, a quantity of 10^12 in the what-if's units) over the quantity it reports, at the
/// opening's price of the underlying.
fn im_rates(e: &engine::Engine, config: &Config, prices: &Prices) -> Result<crate::crisis_population::ImRates> {
    let account = format!("{LIQUIDATOR_NAME}/main");
    let mut rates = BTreeMap::new();
    for m in config.markets.iter().filter(|m| m.kind != MarketKind::Spot) {
        let instrument = m.instrument.clone().context("a derivative market without an instrument")?;
        let rate = |q: i128| -> Result<f64> {
            let w = engine::MarginWhatIf { assets: vec![], derivatives: vec![(m.id.clone(), q)] };
            let explained = e.margin_explained(&account, &w)?;
            let c = explained.contributions.iter().find(|c| c.instrument == instrument).context("the what-if's position")?;
            let (qty, im): (f64, f64) = (c.qty.parse()?, c.standalone_initial_usd.parse()?);
            Ok(im / (qty.abs() * prices.at(&m.base, 0)))
        };
        rates.insert(m.id.clone(), (rate(1_000_000_000_000)?, rate(-1_000_000_000_000)?));
    }
    Ok(rates)
}

/// The liquidator's policy: every open auction whose discount has reached
/// [`BID_DISCOUNT_BPS`], the whole quantity left, at the auction's price now.
fn bids(d: &mut Driver) -> Script {
    let auctions = d.node.engine().liquidation_auctions();
    let mut s = d.script();
    for a in auctions {
        let (Ok(now), Ok(mark)) = (a.price_now.parse::<f64>(), a.mark.parse::<f64>()) else { continue };
        if mark <= 0.0 || (now - mark).abs() / mark * 1e4 < BID_DISCOUNT_BPS {
            continue;
        }
        d.stats.bids += 1;
        // The limit: the policy's discount from the mark (at most it when buying a long's chunk).
        let limit = if a.side == "sell" { mark * (1.0 - BID_DISCOUNT_BPS / 1e4) } else { mark * (1.0 + BID_DISCOUNT_BPS / 1e4) };
        let account = format!("{LIQUIDATOR_NAME}/main");
        let limit_price = format!("{limit:.2}");
        s.send(LIQUIDATOR_NAME, Command::BidLiquidation { auction_id: a.auction_id, account, qty: a.qty_left, limit_price });
    }
    s
}

/// Generated accounts holding a derivative position after the opening.
fn opened(e: &engine::Engine) -> Result<u32> {
    let mut n = 0;
    for account in e.trader_accounts().filter(|a| !a.starts_with(LIQUIDATOR_NAME)) {
        n += u32::from(!e.positions_of(account)?.is_empty());
    }
    Ok(n)
}

fn price_of(e: &engine::Engine, symbol: &str) -> Result<UsdPrice> {
    e.price(symbol).map(|(p, _)| p).with_context(|| format!("no price of {symbol}"))
}

fn value(units: i128, decimals: u8, price: UsdPrice) -> Result<i128> {
    Ok(money::value_usd(Amount(units), Scale::new(decimals)?, price, Rounding::Floor)?.0)
}

/// The house's option positions at the model's value of one unit (`value_musd`, signed by the
/// position: a short call is a liability), USD at 18 decimals, rounded down. At the start the
/// house holds none; options it took over are counted at the end so that their hedge's P&L on
/// the venues has its counterpart.
fn house_options_usd(e: &engine::Engine, model: &margin_core::RiskModel) -> Result<i128> {
    let mut total = 0;
    for p in e.positions_of(engine::HOUSE)? {
        let market = e.config().markets.iter().find(|m| m.id == p.market).context("a position on an unknown market")?;
        if market.kind != MarketKind::Option {
            continue;
        }
        let i =
            model.instruments.iter().position(|x| x.id == p.instrument).with_context(|| format!("the model has no {}", p.instrument))?;
        let charges = model.charges.instruments.get(i).with_context(|| format!("the model values no {}", p.instrument))?;
        let decimals = model.instruments[i].decimals;
        let qty = units(&p.qty, decimals)?;
        let one = 10i128.checked_pow(u32::from(decimals)).context("the option's decimals")?;
        total += money::mul_div(qty, i128::from(charges.value_musd) * 1_000_000_000_000, one, Rounding::Floor)?;
    }
    Ok(total)
}

/// `@insurance`'s balances valued at the engine's prices (USD, 18 decimals).
fn insurance_usd(e: &engine::Engine) -> Result<i128> {
    Ok(UsdValue::parse(&e.valuation(engine::INSURANCE)?.total_usd)?.0)
}

/// The house's P&L by source (`crisis_pnl::rows`): the attributed cash, checked against the
/// house's balances, valued at the end's prices with its holdings at the end.
fn pnl_by_source(
    d: &Driver,
    opening: &BTreeMap<String, i128>,
    model: &margin_core::RiskModel,
    venues_unrealised: i128,
) -> Result<Vec<(&'static str, i128)>> {
    let e = d.node.engine();
    let end = house_cash(e)?;
    let flows = d.pnl.cash_by_asset();
    for asset in end.keys().chain(opening.keys()).chain(flows.keys()) {
        let change = end.get(asset).copied().unwrap_or(0) - opening.get(asset).copied().unwrap_or(0);
        let booked = flows.get(asset).copied().unwrap_or(0);
        if change != booked {
            bail!("the house's {asset} moved by {change} units, its events explain {booked}: the P&L by source is incomplete");
        }
    }
    let parts = house_parts(e)?;
    let holdings =
        crate::crisis_pnl::Holdings { perps: parts.perps, options: house_options_usd(e, model)?, owed: parts.owed, venues_unrealised };
    let value = |asset: &str, units: i128| -> Result<i128> {
        let decimals = d.decimals.get(asset).copied().context("an asset outside the configuration")?;
        self::value(units, decimals, price_of(e, asset)?)
    };
    let total = d.stats.house_end_usd - d.stats.house_start_usd + venues_unrealised;
    crate::crisis_pnl::rows(&d.pnl, &value, (opening, d.stats.house_start_usd), &holdings, total)
}

/// The house's cash by asset, in units: `@house`'s posted balances and its venue collateral.
fn house_cash(e: &engine::Engine) -> Result<BTreeMap<String, i128>> {
    let mut out = BTreeMap::new();
    for b in e.valuation(engine::HOUSE)?.balances {
        let decimals = e.config().assets.iter().find(|a| a.symbol == b.asset).context("an asset outside the configuration")?.decimals;
        *out.entry(b.asset.clone()).or_insert(0) += units(&b.amount, decimals)?;
    }
    for venue in crate::crisis_venues::VENUES.map(|v| v.name) {
        *out.entry("USDC".to_string()).or_insert(0) += e.venue_collateral(venue, "USDC")?;
    }
    out.retain(|_, v| *v != 0);
    Ok(out)
}

/// `@house`'s equity in USD (18 decimals): its balances at the engine's prices, plus what trader
/// accounts owe it, plus its perp positions at the index (quantity x index - entry cost).
pub fn house_equity(e: &engine::Engine) -> Result<i128> {
    let p = house_parts(e)?;
    Ok(p.balances + p.owed + p.perps)
}

/// The parts of the house's equity (USD, 18 decimals).
struct HouseParts {
    /// `@house`'s balances and its collateral at the venues.
    balances: i128,
    /// What trader accounts owe it.
    owed: i128,
    /// Its perps at the index, less their entry cost.
    perps: i128,
}

fn house_parts(e: &engine::Engine) -> Result<HouseParts> {
    let mut balances = UsdValue::parse(&e.valuation(engine::HOUSE)?.total_usd)?.0;
    // Its collateral at the venues is its capital too (`@house/<venue>`).
    for venue in crate::crisis_venues::VENUES.map(|v| v.name) {
        balances += value(e.venue_collateral(venue, "USDC")?, 6, price_of(e, "USDC")?)?;
    }
    let (mut owed, mut perps) = (0, 0);
    for asset in &e.config().assets {
        for account in e.trader_accounts() {
            let owed_units = e.debt(account, &asset.symbol)?;
            if owed_units != 0 {
                owed += value(owed_units, asset.decimals, price_of(e, &asset.symbol)?)?;
            }
        }
    }
    let usdc = price_of(e, "USDC")?;
    for p in e.positions_of(engine::HOUSE)? {
        let market = e.config().markets.iter().find(|m| m.id == p.market).context("a position on an unknown market")?;
        // Options are valued by the model in force (`house_options_usd`).
        if market.kind == MarketKind::Option {
            continue;
        }
        if market.kind != MarketKind::Perp {
            bail!("the house holds a {:?} position on {}: not valued here", market.kind, p.market);
        }
        perps += value(units(&p.qty, 18)?, 18, price_of(e, &market.base)?)?;
        perps -= value(units(&p.entry_cost, 6)?, 6, usdc)?;
    }
    Ok(HouseParts { balances, owed, perps })
}

fn dollars(v: i128) -> String {
    let whole = v / 1_000_000_000_000_000_000;
    let cents = (v % 1_000_000_000_000_000_000).abs() / 10_000_000_000_000_000;
    let sign = if v < 0 && whole == 0 { "-" } else { "" };
    format!("{sign}{whole}.{cents:02}")
}

fn usdc(units: i128) -> String {
    money::format_decimal(units, Scale::new(6).unwrap_or(money::USD_SCALE))
}

impl Report {
    /// The episode's table (markdown).
    pub fn markdown(&self, ep: &Episode) -> String {
        let s = &self.stats;
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
        let pop: Vec<String> = s.population.iter().map(|(k, v)| format!("{v} {k}")).collect();
        row("accounts (population)", format!("{} ({})", s.accounts, pop.join(", ")));
        row("accounts with a derivative position after the opening", s.opened.to_string());
        row("flagged for liquidation (health changes / accounts)", format!("{} / {}", s.flagged, s.flagged_accounts.len()));
        row("liquidations started", s.started.to_string());
        row("auction fills by the liquidator (bids sent)", format!("{} ({})", s.liquidator_fills, s.bids));
        row("house takeovers", s.house_takeovers.to_string());
        let get = |m: &BTreeMap<String, i128>| usdc(m.get("USDC").copied().unwrap_or(0));
        row("penalties, USDC (insurance share)", format!("{} ({})", get(&s.penalties), get(&s.insurance_share)));
        let debt: Vec<String> = s.bad_debt().iter().map(|(a, v)| format!("{} {a}", decimal_of(*v, &self.decimals, a))).collect();
        row("bad debt (waterfall deficit total)", if debt.is_empty() { "0".into() } else { debt.join(", ") });
        for step in ["collateral", "penalty", "insurance_fund", "broker_capital", "socialised", "deleveraged", "house_uncovered"] {
            let v: Vec<String> = s
                .steps
                .iter()
                .filter(|((k, _), _)| k == step)
                .map(|((_, a), v)| format!("{} {a}", decimal_of(*v, &self.decimals, a)))
                .collect();
            row(&format!("waterfall step `{step}`"), if v.is_empty() { "0".into() } else { v.join(", ") });
        }
        row("socialised holder charges (settlements) / deleveraged shares (events)", format!("{} / {}", s.socialised, s.deleveraged));
        let min = s.insurance_usd.iter().min().copied().unwrap_or(0);
        let end = s.insurance_usd.last().copied().unwrap_or(0);
        let start = s.insurance_usd.first().copied().unwrap_or(0);
        row("insurance fund USD: start / min / end", format!("{} / {} / {}", dollars(start), dollars(min), dollars(end)));
        let seed = match &s.insurance_seed_note {
            Some(note) => note.clone(),
            None => usdc(s.insurance_seed_usdc),
        };
        row("insurance fund seed (first day's cover-2), USDC", seed);
        row("house P&L, USD (equity change of @house and its venue collateral)", dollars(s.house_end_usd - s.house_start_usd));
        for (k, v) in self.venue_rows() {
            row(&k, v);
        }
        for (source, v) in &self.pnl_rows {
            row(&format!("house P&L: {source}, USD"), dollars(*v));
        }
        let rej: Vec<String> = s.rejected.iter().map(|(k, v)| format!("{v} {k}")).collect();
        row("commands rejected", if rej.is_empty() { "none".into() } else { rej.join("; ") });
        let other: Vec<String> = s.other_events.iter().map(|(k, v)| format!("{v} {k}")).collect();
        row("other events by kind", if other.is_empty() { "none".into() } else { other.join(", ") });
        row("journal (last seq, state hash)", format!("{}, `{}`", self.final_seq, self.state_hash.get(..16).unwrap_or(&self.state_hash)));
        let mut t = format!("### {} ({}), {} hours from {}\n\n| | |\n|---|---|\n", ep.name, ep.what, ep.hours, ep.from);
        for (k, v) in rows {
            t.push_str(&format!("| {k} | {v} |\n"));
        }
        t
    }
}

impl Report {
    /// The rows of the house's hedge legs on the venues.
    fn venue_rows(&self) -> Vec<(String, String)> {
        let per_venue = |f: &dyn Fn(&crate::crisis_venues::Leg) -> String| -> String {
            self.legs.iter().map(|l| format!("{} {} {}", l.spec.name, l.underlying, f(l))).collect::<Vec<_>>().join(", ")
        };
        let liquidations: Vec<String> = self
            .legs
            .iter()
            .flat_map(|l| &l.liquidations)
            .map(|x| {
                let qty = money::format_decimal(x.qty, Scale::new(18).unwrap_or(money::USD_SCALE));
                format!(
                    "{} {} hour {}: {qty} at {}, penalty {}, left {}",
                    x.venue,
                    x.underlying,
                    x.hour,
                    usdc(x.price),
                    usdc(x.penalty),
                    usdc(x.left)
                )
            })
            .collect();
        vec![
            (
                "venue liquidations suffered".into(),
                if liquidations.is_empty() { "0".into() } else { format!("{} ({})", liquidations.len(), liquidations.join("; ")) },
            ),
            ("venue top-ups (count, USDC)".into(), per_venue(&|l| format!("{} ({})", l.top_ups, usdc(l.top_up_sent)))),
            (
                "house collateral posted per venue at the end, USDC (in flight)".into(),
                per_venue(&|l| format!("{} ({})", usdc(l.collateral), usdc(l.in_flight.iter().map(|(_, a)| a).sum()))),
            ),
            ("hours a hedge leg was wanted but not open".into(), per_venue(&|l| l.hours_unhedged.to_string())),
            ("house P&L on the venue legs, USDC (equity at the end + in flight - sent)".into(), usdc(self.venue_pnl)),
            (
                "house P&L with its venue legs, USD (equity change incl. `@house/<venue>` + legs' unrealised)".into(),
                dollars(self.stats.house_end_usd - self.stats.house_start_usd + self.venue_unrealised_usd),
            ),
        ]
    }
}

fn decimal_of(v: i128, decimals: &BTreeMap<String, u8>, asset: &str) -> String {
    match decimals.get(asset).and_then(|d| Scale::new(*d).ok()) {
        Some(scale) => money::format_decimal(v, scale),
        None => format!("{v} units"),
    }
}
