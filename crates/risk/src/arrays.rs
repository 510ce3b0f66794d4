//! Risk arrays for the engine: compiles the f64 margin engine's per-instrument scenario P&L and
//! its protocol, concentration and liquidity tables into a [`margin_core::RiskModel`] of
//! integers (SPAN-style), installed in the engine by an operator command and identified by its
//! digest. Quantization always rounds against the account; `docs/margin-core.md` states the
//! rules and the bound between the integer and the f64 margin.

use crate::book::{Book, Class, Unwind};
use crate::error::RiskError;
use crate::liquidity::{close_out_cost_uncapped, unwind_loss_fraction};
use crate::margin::Engine;
use crate::params::RiskParams;
use crate::portfolio::{BalanceSpec, Portfolio, PositionSpec};
use crate::report::{Computed, MarketData, compute};
use margin_core::{ChargeTables, InstrumentArray, InstrumentCharges, Position, ProtocolArray, RiskModel, Scaling, Underlying};
use model::{Config, InstrumentKind};
use money::UsdPrice;

/// Decimals of a configured instrument's quantity in the model.
pub const INSTRUMENT_DECIMALS: u8 = 9;
/// Ratio between consecutive points of the liquidity grid (a chord over 10% of size).
pub const LIQUIDITY_GRID_RATIO: f64 = 1.1;
/// The last point of the liquidity grid, USD (beyond it the whole notional is charged).
pub const LIQUIDITY_GRID_MAX_USD: f64 = 1e13;

/// What was left out of a universe model, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub id: String,
    pub reason: String,
}

/// A compiled model with the f64 computation it came from.
pub struct Compiled {
    pub model: RiskModel,
    pub computed: Computed,
    pub skipped: Vec<Skipped>,
}

fn invalid(problem: impl Into<String>) -> RiskError {
    RiskError::RiskModelInvalid { problem: problem.into() }
}

/// The broker's own venue (protocol `clearhouse`, the venue of its perps and options).
pub const OWN_VENUE: &str = "clearhouse";

/// Whether [`compile_assuming`] treats a venue launched after the as-of date as live then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueAssumption {
    /// As configured: an instrument on a venue not yet launched is skipped.
    AsConfigured,
    /// The broker's own venue is taken as live on the as-of date (historical replays of its
    /// own markets, `docs/margin-core.md`, "Historical models of the broker's own venue"): its
    /// `launched` date becomes the as-of date, so it keeps its failure profile at the youngest
    /// age the protocol model knows. The model's label says so.
    OwnVenueLive,
}

/// The configuration a [`VenueAssumption`] compiles with, and the label suffix that names it
/// (`None` when the assumption changes nothing: the venue was launched by then).
pub fn assume_venue(config: &Config, assumption: VenueAssumption, as_of: marketdata::Hour) -> Result<(Config, Option<String>), RiskError> {
    let mut assumed = config.clone();
    if assumption == VenueAssumption::AsConfigured {
        return Ok((assumed, None));
    }
    let day = as_of.0.div_euclid(24);
    let prot =
        assumed.protocols.iter_mut().find(|p| p.id == OWN_VENUE).ok_or_else(|| invalid("no protocol `clearhouse` to assume live"))?;
    let launched = model::parse_date(&prot.risk.launched).map_err(invalid)?;
    if day >= launched {
        return Ok((assumed, None));
    }
    let date = as_of.to_iso().get(..10).ok_or_else(|| invalid("an as-of instant outside the calendar"))?.to_string();
    let note = format!("venue {OWN_VENUE} assumed live on {date} (launched {})", prot.risk.launched);
    prot.risk.launched = date;
    Ok((assumed, Some(note)))
}

/// [`compile`] under a venue assumption; an assumption that changes the configuration is named
/// in the model's label (`... assuming clearhouse live`, and so in its digest) and returned as a
/// note to print, never applied silently.
pub fn compile_assuming(
    config: &Config,
    params: &RiskParams,
    data: &MarketData,
    as_of: marketdata::Hour,
    assumption: VenueAssumption,
) -> Result<(Compiled, Option<String>), RiskError> {
    let (assumed, note) = assume_venue(config, assumption, as_of)?;
    let mut compiled = compile(&assumed, params, data, as_of)?;
    if note.is_some() {
        // Bounded by the model's name length (64): `clearhouse <as-of> assuming clearhouse live`.
        compiled.model.label = format!("{} assuming {OWN_VENUE} live", compiled.model.label);
        compiled.model.validate().map_err(|e| invalid(e.to_string()))?;
    }
    Ok((compiled, note))
}

/// The model of the whole configuration as of `as_of`: every asset (as a balance held by the
/// broker, decimals = its ledger scale, id = its symbol; and on every venue of an instrument,
/// id `ASSET@venue`), the USD claim on each perpetual venue (`USD@venue`) and every `[[instruments]]` entry
/// (decimals 9, id = the instrument id) that can be valued at that instant. LP positions need
/// their pool's state and are compiled from a book that carries it ([`compile_portfolio`]); an
/// instrument that cannot be valued (not launched, expired) is listed in `skipped`.
pub fn compile(config: &Config, params: &RiskParams, data: &MarketData, as_of: marketdata::Hour) -> Result<Compiled, RiskError> {
    let mut skipped = Vec::new();
    let mut portfolio = Portfolio {
        name: "universe".into(),
        description: "every asset and instrument of the configuration, one unit each".into(),
        as_of: as_of.to_iso(),
        positions: Vec::new(),
        balances: Vec::new(),
        pools: Vec::new(),
        market: Default::default(),
    };
    for inst in &config.instruments {
        if inst.kind == InstrumentKind::LpPosition {
            skipped.push(Skipped { id: inst.id.clone(), reason: "an LP position needs its pool's state (compile it from a book)".into() });
            continue;
        }
        // A perpetual with an entry price away from the mark brings its venue's USD claim
        // (`USD@venue`, the unrealised P&L) into the model; the perpetual itself is held at the mark.
        let entry = (inst.kind == InstrumentKind::Perpetual).then(|| "1".to_string());
        let spec = PositionSpec { instrument: inst.id.clone(), quantity: "1".into(), entry_price_usd: entry };
        let one = Portfolio { positions: vec![spec.clone()], ..portfolio.clone() };
        match compute(config, params, &one, data, Some(as_of), None) {
            Ok(_) => portfolio.positions.push(spec),
            Err(e) => skipped.push(Skipped { id: inst.id.clone(), reason: e.to_string() }),
        }
    }
    let mut venues: Vec<Option<String>> = config.instruments.iter().filter_map(|i| i.venue.clone()).map(Some).collect();
    venues.sort();
    venues.dedup();
    venues.insert(0, None);
    for asset in &config.assets {
        for venue in &venues {
            if venue.is_none() && config.instruments.iter().any(|i| i.id == asset.symbol) {
                continue;
            }
            let spec = BalanceSpec { asset: asset.symbol.clone(), amount: "1".into(), venue: venue.clone() };
            let one = Portfolio { balances: vec![spec.clone()], ..portfolio.clone() };
            let id = venue.as_ref().map_or(asset.symbol.clone(), |v| format!("{}@{v}", asset.symbol));
            match compute(config, params, &one, data, Some(as_of), None) {
                Ok(_) => portfolio.balances.push(spec),
                Err(e) => skipped.push(Skipped { id, reason: e.to_string() }),
            }
        }
    }
    let mut compiled = compile_portfolio(config, params, data, &portfolio, Some(as_of))?;
    compiled.skipped = skipped;
    Ok(compiled)
}

/// The model of the instruments of one book (the scenario set the f64 margin of that book uses):
/// the integer margin of the book through this model is the f64 margin within the bound of
/// `docs/margin-core.md`.
pub fn compile_portfolio(
    config: &Config,
    params: &RiskParams,
    data: &MarketData,
    portfolio: &Portfolio,
    as_of: Option<marketdata::Hour>,
) -> Result<Compiled, RiskError> {
    let computed = compute(config, params, portfolio, data, as_of, None)?;
    let model = model_of(config, &computed)?;
    Ok(Compiled { model, computed, skipped: Vec::new() })
}

/// The integer model of a computed engine.
pub fn model_of(config: &Config, c: &Computed) -> Result<RiskModel, RiskError> {
    let e = &c.engine;
    let decimals: Vec<u8> = c.book.instruments.iter().map(|i| instrument_decimals(config, &c.book, i)).collect();
    let underlyings = underlyings(e)?;
    let grid = liquidity_grid();
    let mut rows: Vec<(InstrumentArray, InstrumentCharges)> = Vec::with_capacity(e.instruments.len());
    for (i, inst) in e.instruments.iter().enumerate() {
        let array = InstrumentArray { id: inst.id.clone(), decimals: decimals[i], scaling: scaling(e, i), pnl: quantize_pnl(e, i)? };
        rows.push((array, instrument_charges(e, i, &grid)?));
    }
    // Sorted by id; the book's instruments are already in canonical (id) order.
    let order: Vec<usize> = sorted_order(&rows)?;
    let new_index: Vec<u32> = inverse(&order);
    let mut instruments = Vec::with_capacity(rows.len());
    let mut charges = Vec::with_capacity(rows.len());
    let mut rows: Vec<Option<(InstrumentArray, InstrumentCharges)>> = rows.into_iter().map(Some).collect();
    for &o in &order {
        let (a, ch) = rows[o].take().ok_or_else(|| invalid("instrument order is not a permutation"))?;
        instruments.push(a);
        charges.push(ch);
    }
    let model = RiskModel {
        label: format!("clearhouse {}", c.base.as_of.to_iso()),
        as_of_ms: u64::try_from(c.base.as_of.0).map_err(|_| invalid("as-of before the epoch"))? * 3_600_000,
        fhs_scenarios: u32::try_from(e.n_fhs).map_err(|_| invalid("too many FHS scenarios"))?,
        floor_weights_ppm: e
            .floor_weights
            .iter()
            .map(|w| ppm_up(if e.params.stress_floor { *w } else { 0.0 }))
            .collect::<Result<_, _>>()?,
        tail_ppm: tail_ppm(e.params.tail())?,
        maintenance_ppm: ppm_up(e.params.maintenance_fraction)?,
        underlyings,
        instruments,
        charges: ChargeTables {
            protocols: protocols(e, &new_index)?,
            concentration_scale_musd_e3: (e.params.concentration_scale_usd * 1e3).floor() as i128,
            liquidity_grid_musd: grid,
            instruments: charges,
        },
    };
    model.validate().map_err(|err| invalid(err.to_string()))?;
    Ok(model)
}

/// The model positions of a book: its f64 quantities read back as exact decimals in each
/// instrument's units (the shortest decimal that is the f64, rounded away from zero at the
/// instrument's decimals).
pub fn positions_of(model: &RiskModel, book: &Book) -> Result<Vec<Position>, RiskError> {
    book.positions
        .iter()
        .map(|p| {
            let id = &book.instruments[p.instrument].id;
            let ix = model.instrument(id).ok_or_else(|| invalid(format!("{id} is not in the risk model")))?;
            Ok(Position { instrument: ix, qty: quantity_units(p.quantity, model.decimals(ix))? })
        })
        .collect()
}

/// The model's reference prices, as the engine would pass them (one per underlying).
pub fn reference_prices(model: &RiskModel) -> Vec<Option<UsdPrice>> {
    model.underlyings.iter().map(|u| Some(u.ref_price)).collect()
}

/// `q` whole units as a count of `10^-decimals`, rounded away from zero.
pub fn quantity_units(q: f64, decimals: u8) -> Result<i128, RiskError> {
    if !q.is_finite() {
        return Err(invalid(format!("quantity {q} is not finite")));
    }
    let text = format!("{}", q.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let d = decimals as usize;
    let mut digits = format!("{int}{}", &format!("{frac:0<d$}")[..d]);
    let rest_nonzero = frac.len() > d && frac[d..].bytes().any(|b| b != b'0');
    if digits.is_empty() {
        digits.push('0');
    }
    let mut units: i128 = digits.parse().map_err(|_| invalid(format!("quantity {q} does not fit the model")))?;
    if rest_nonzero {
        units += 1;
    }
    Ok(if q < 0.0 { -units } else { units })
}

/// A token held as a ledger balance (a balance, or a spot instrument named after its asset, as
/// `ETH` is both) counts in the asset's ledger scale; anything else in nano-units.
fn instrument_decimals(config: &Config, book: &Book, inst: &crate::book::BookInstrument) -> u8 {
    let is_balance = book.positions.iter().any(|p| p.is_balance && book.instruments[p.instrument].id == inst.id);
    match &inst.asset {
        Some(a) if is_balance || *a == inst.id => config.asset(a).map_or(INSTRUMENT_DECIMALS, |a| a.decimals),
        _ => INSTRUMENT_DECIMALS,
    }
}

/// Delta-one instruments on a priced underlying follow its price; everything else is fixed.
fn scaling(e: &Engine, i: usize) -> Scaling {
    let inst = &e.instruments[i];
    match (inst.class, inst.underlying) {
        (Class::Spot | Class::Perp | Class::Deposit | Class::Borrow, Some(u)) if u != pricing::UnderlyingId::USD => {
            Scaling::Linear { underlying: u.0 }
        }
        _ => Scaling::Fixed,
    }
}

fn underlyings(e: &Engine) -> Result<Vec<Underlying>, RiskError> {
    e.underlying_names
        .iter()
        .zip(&e.spot_usd)
        .map(|(name, s)| {
            // An underlying without a price at the as-of instant scales nothing; 1 USD keeps the
            // model valid and is never used (no linear instrument names it).
            let p = if s.is_finite() && *s > 0.0 { *s } else { 1.0 };
            let price = UsdPrice::parse(&format!("{p:.12}")).map_err(|err| invalid(format!("{name} price: {err}")))?;
            Ok(Underlying { name: name.clone(), ref_price: price })
        })
        .collect()
}

/// Per-unit P&L in micro-USD, rounded down (a long's loss up).
fn quantize_pnl(e: &Engine, i: usize) -> Result<Vec<i64>, RiskError> {
    e.rv.of(i)
        .iter()
        .map(|d| {
            let x = (d * 1e6).floor();
            if x.is_finite() && x.abs() < 9.0e18 {
                Ok(x as i64)
            } else {
                Err(invalid(format!("{}: scenario P&L {d} does not fit the model", e.instruments[i].id)))
            }
        })
        .collect()
}

fn ppm_up(x: f64) -> Result<u32, RiskError> {
    let v = (x * 1e6).ceil();
    if (0.0..=1e6).contains(&v) { Ok(v as u32) } else { Err(invalid(format!("fraction {x} outside [0, 1]"))) }
}

/// The ES tail in ppm, rounded down (a thinner tail gives a larger ES), except that a value
/// within 10^-6 ppm of an integer is that integer (`1 - 0.99` is 0.010000000000000009 in f64).
fn tail_ppm(tail: f64) -> Result<u32, RiskError> {
    let v = tail * 1e6;
    let v = if (v - v.round()).abs() < 1e-6 { v.round() } else { v.floor() };
    if (1.0..=1e6).contains(&v) { Ok(v as u32) } else { Err(invalid(format!("tail {tail} outside (0, 1]"))) }
}

fn micro_up(x: f64, what: &str) -> Result<i64, RiskError> {
    let v = (x * 1e6).ceil();
    if v.is_finite() && v.abs() < 9.0e18 { Ok(v as i64) } else { Err(invalid(format!("{what}: {x} USD does not fit the model"))) }
}

fn instrument_charges(e: &Engine, i: usize, grid: &[i128]) -> Result<InstrumentCharges, RiskError> {
    let id = &e.instruments[i].id;
    let links = e.links[i].iter().map(|&(j, f)| Ok((j as u16, ppm_up(f)?))).collect::<Result<Vec<_>, RiskError>>()?;
    let collapse_loss = match e.collapse[i] {
        Some(j) => {
            let frac = e.links[i].iter().find(|l| l.0 == j).map_or(0.0, |l| l.1);
            e.params.protocol.issuer_token_collapse * (1.0 - e.protocols[j].lgd * frac)
        }
        None => 0.0,
    };
    Ok(InstrumentCharges {
        value_musd: micro_up(e.rv.base_values[i], id)?,
        notional_musd: micro_up(e.unit_notional[i], id)?,
        links,
        collapse: e.collapse[i].map(|j| j as u16),
        collapse_loss_ppm: ppm_up(collapse_loss.max(0.0))?,
        liquidity_cost_musd: liquidity_costs(e, i, grid),
    })
}

/// Grid points: 0, then 1 USD x 1.1^k up to 10^13 USD, micro-USD.
fn liquidity_grid() -> Vec<i128> {
    let mut grid = vec![0i128];
    let mut q = 1.0f64;
    while q <= LIQUIDITY_GRID_MAX_USD {
        let g = (q * 1e6).round() as i128;
        if g > *grid.last().unwrap_or(&0) {
            grid.push(g);
        }
        q *= LIQUIDITY_GRID_RATIO;
    }
    grid
}

/// The uncapped close-out cost of each grid notional, micro-USD rounded up and never falling
/// with size; empty for cash (no close-out cost).
fn liquidity_costs(e: &Engine, i: usize, grid: &[i128]) -> Vec<i128> {
    let inst = &e.instruments[i];
    if inst.class == Class::Cash || e.unit_notional[i] <= 0.0 {
        return Vec::new();
    }
    let mut prev = 0i128;
    grid.iter()
        .map(|g| {
            let q = *g as f64 / 1e6;
            let shares = q / e.unit_notional[i];
            let cost = match &inst.unwind {
                // Half the share of the pool, uncapped (convex; the cap at 1 is applied at use).
                Some(Unwind::ConstantProduct { total_supply }) => q * 0.5 * shares / total_supply,
                Some(u) => q * unwind_loss_fraction(shares, u),
                None => close_out_cost_uncapped(q, &e.depth[i]),
            };
            let c = if cost.is_finite() { ((cost * 1e6).ceil()).min(1e30) as i128 } else { i128::MAX / 4 };
            prev = prev.max(c);
            prev
        })
        .collect()
}

fn protocols(e: &Engine, new_index: &[u32]) -> Result<Vec<ProtocolArray>, RiskError> {
    e.protocols
        .iter()
        .enumerate()
        .map(|(j, p)| {
            let mut frozen: Vec<u32> = (0..e.instruments.len())
                .filter(|&i| e.links[i].iter().any(|&(k, f)| k == j && f >= 1.0) || e.collapse[i] == Some(j))
                .map(|i| new_index[i])
                .collect();
            frozen.sort_unstable();
            let pd = (p.pd_mpor * 1e9).ceil();
            if !(0.0..=1e9).contains(&pd) {
                return Err(invalid(format!("{}: probability {} outside [0, 1]", p.protocol, p.pd_mpor)));
            }
            Ok(ProtocolArray { name: p.protocol.clone(), pd_ppb: pd as u64, lgd_ppm: ppm_up(p.lgd)?, frozen })
        })
        .collect()
}

fn sorted_order(rows: &[(InstrumentArray, InstrumentCharges)]) -> Result<Vec<usize>, RiskError> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| rows[a].0.id.cmp(&rows[b].0.id));
    if let Some(w) = order.windows(2).find(|w| rows[w[0]].0.id == rows[w[1]].0.id) {
        return Err(invalid(format!("two instruments share the id {}", rows[w[0]].0.id)));
    }
    Ok(order)
}

fn inverse(order: &[usize]) -> Vec<u32> {
    let mut inv = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        inv[old] = new as u32;
    }
    inv
}
