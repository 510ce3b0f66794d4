//! A portfolio compiled against the configuration: each distinct instrument once (as a pricing
//! instrument with the protocols it is a claim on), and the positions that hold it.

use crate::error::RiskError;
use crate::market::{BaseMarket, Target, Universe, has_own_peg};
use crate::params::ReceiptModel;
use crate::portfolio::{
    AMP_BOUNDS, POOL_AMOUNT_BOUNDS, POSITION_USD_MAX, PRICE_USD_BOUNDS, Portfolio, QUANTITY_BOUNDS, bounded, check_bounds, parse_decimal,
};
use model::{AssetKind, Config, InstrumentKind, OptionRight as ModelRight, ProtocolKind};
use pricing::{Asset, EuropeanOption, Instrument, OptionModel, OptionRight, OutcomeSide, Perpetual, PredictionShare, UnderlyingId};

/// What kind of position an instrument is, for the comparators and the liquidity charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A token held (spot, wrapped, synthetic, staked, a balance).
    Spot,
    Perp,
    Option,
    Lp,
    Deposit,
    /// A debt: the position quantity is negative units of the asset.
    Borrow,
    Prediction,
    /// USD owed to the account by a venue (a perpetual's unrealised P&L against its mark entry):
    /// no market risk, no close-out cost, a claim on the venue and the settlement asset's issuer.
    Cash,
}

impl Unwind {
    /// The pool's LP total supply.
    pub fn total_supply(&self) -> f64 {
        match self {
            Unwind::ConstantProduct { total_supply } | Unwind::Stableswap { total_supply, .. } => *total_supply,
        }
    }
}

/// How an LP share is unwound into its own pool (the exact close-out loss, `liquidity::unwind_loss`).
#[derive(Debug, Clone, PartialEq)]
pub enum Unwind {
    /// Two-coin constant-product pool with `total_supply` shares.
    ConstantProduct { total_supply: f64 },
    /// Stableswap pool: balances (whole tokens), coin prices at the as-of instant (USD), A, supply.
    Stableswap { balances: Vec<f64>, prices_usd: Vec<f64>, amp: f64, total_supply: f64 },
}

/// One distinct instrument of a book.
#[derive(Debug, Clone)]
pub struct BookInstrument {
    /// Display id: the configuration id, or `ASSET@venue` for a balance.
    pub id: String,
    pub pricing: Instrument,
    pub class: Class,
    /// The underlying whose price drives it most (perp, option, token), if any.
    pub underlying: Option<UnderlyingId>,
    /// Protocol where it lives, if any.
    pub venue: Option<String>,
    /// The token (spot, balance, receipt, LP share, prediction share, borrowed asset).
    pub asset: Option<String>,
    pub asset_kind: Option<AssetKind>,
    /// Protocols the position is a claim on, with the fraction of its value at stake.
    pub links: Vec<(String, f64)>,
    /// Keys tried in order to find its market depth.
    pub liquidity_keys: Vec<String>,
    /// Option expiry in days from the as-of instant.
    pub expiry_days: Option<f64>,
    /// Prediction market id.
    pub outcome: Option<pricing::OutcomeId>,
    /// LP shares: how the pool unwinds.
    pub unwind: Option<Unwind>,
    /// An unbacked token issued by a protocol (a native coin naming its issuer, e.g. an exchange
    /// token): the issuer's id. The token collapses when its issuer fails (wrong-way risk).
    pub issuer_collapse: Option<String>,
}

/// One line of the portfolio.
#[derive(Debug, Clone, PartialEq)]
pub struct BookPosition {
    /// Index into `Book::instruments`.
    pub instrument: usize,
    /// Signed units (a borrow of 5 ETH is -5).
    pub quantity: f64,
    /// Shown in reports.
    pub label: String,
    pub is_balance: bool,
}

/// A compiled portfolio.
#[derive(Debug, Clone)]
pub struct Book {
    pub name: String,
    pub instruments: Vec<BookInstrument>,
    pub positions: Vec<BookPosition>,
}

/// How the backtest re-strikes a book to constant notional on a later day.
#[derive(Debug, Clone, PartialEq)]
pub struct Restrike {
    /// Spot per underlying id when the portfolio was written (the reference day).
    pub ref_spot_usd: Vec<Option<f64>>,
    /// Market clock of the reference day, years.
    pub ref_now_years: f64,
}

fn unknown(portfolio: &str, what: &'static str, name: &str) -> RiskError {
    RiskError::UnknownReference { portfolio: portfolio.to_string(), what, name: name.to_string() }
}

struct Ctx<'a> {
    config: &'a Config,
    params: &'a crate::params::RiskParams,
    universe: &'a Universe,
    base: &'a BaseMarket,
    portfolio: &'a Portfolio,
    restrike: Option<&'a Restrike>,
}

impl Ctx<'_> {
    fn pname(&self) -> &str {
        &self.portfolio.name
    }

    /// The pricing asset of a token: what it tracks times its own peg.
    fn asset(&self, symbol: &str) -> Result<Asset, RiskError> {
        let a = self.config.asset(symbol).ok_or_else(|| unknown(self.pname(), "asset", symbol))?;
        let tracked = |s: &str| -> Result<UnderlyingId, RiskError> {
            self.universe.underlying(s).ok_or_else(|| unknown(self.pname(), "underlying", s))
        };
        match a.kind {
            AssetKind::NativeCoin => Ok(Asset::native(tracked(a.tracks.as_deref().unwrap_or(""))?)),
            AssetKind::StakingDerivative => {
                let under = self.asset(a.underlying_asset.as_deref().unwrap_or(""))?;
                let peg = self.universe.peg(symbol).ok_or_else(|| unknown(self.pname(), "peg", symbol))?;
                Ok(Asset::pegged(under.underlying, peg))
            }
            k if has_own_peg(k) => {
                let u = tracked(a.tracks.as_deref().unwrap_or(""))?;
                if u == UnderlyingId::USD || self.universe.factor_of(Target::Spot(u)).is_some() {
                    let peg = self.universe.peg(symbol).ok_or_else(|| unknown(self.pname(), "peg", symbol))?;
                    if self.universe.factor_of(Target::Peg(peg)).is_none() {
                        return Err(RiskError::MarketDataMissing {
                            what: format!("peg:{symbol}"),
                            hint: "add a [factor_proxies] entry in the risk parameters".into(),
                        });
                    }
                    Ok(Asset::pegged(u, peg))
                } else {
                    Err(RiskError::MarketDataMissing {
                        what: format!("price:{}", self.universe.underlyings[usize::from(u.0)]),
                        hint: "add a [factor_proxies] entry".into(),
                    })
                }
            }
            // A deposit receipt is worth its underlying asset (index growth over a day is negligible).
            AssetKind::LendingReceipt => self.asset(a.underlying_asset.as_deref().unwrap_or("")),
            _ => Err(RiskError::PortfolioInvalid {
                problem: format!("asset {symbol} has no single price (it is an LP or prediction share)"),
            }),
        }
    }

    /// Protocols a token is a claim on: its issuer, and for a receipt the underlying's issuer.
    fn issuer_links(&self, symbol: &str, fraction: f64, out: &mut Vec<(String, f64)>) {
        if let Some(a) = self.config.asset(symbol) {
            // An unbacked token is no claim on its issuer: it collapses with it (`issuer_collapse`).
            if let Some(p) = a.protocol.as_ref().filter(|_| a.kind != AssetKind::NativeCoin) {
                push_link(out, p, fraction);
            }
            if let Some(u) = &a.underlying_asset {
                self.issuer_links(u, fraction, out);
            }
        }
    }

    /// The issuer of an unbacked token (a native coin that names a protocol), if any.
    fn unbacked_issuer(&self, symbol: &str) -> Option<String> {
        self.config.asset(symbol).filter(|a| a.kind == AssetKind::NativeCoin).and_then(|a| a.protocol.clone())
    }

    /// Units of the underlying per unit of `symbol`: 1 for anything but an exchange-rate lending
    /// receipt, whose rate comes from the portfolio's `receipt_exchange_rate_mantissa` through the
    /// Compound formula `mantissa / 10^(18 + underlying decimals - receipt decimals)`.
    fn receipt_factor(&self, symbol: &str) -> Result<f64, RiskError> {
        let Some(a) = self.config.asset(symbol).filter(|a| a.kind == AssetKind::LendingReceipt) else { return Ok(1.0) };
        let issuer = a.protocol.as_deref().unwrap_or("");
        match self.params.receipt_model.get(issuer) {
            Some(ReceiptModel::Rebasing) => Ok(1.0),
            Some(ReceiptModel::ExchangeRate) => {
                let key = format!("market.receipt_exchange_rate_mantissa.{symbol}");
                let text =
                    self.portfolio.market.receipt_exchange_rate_mantissa.get(symbol).ok_or_else(|| RiskError::MarketDataMissing {
                        what: format!("exchange rate of {symbol}"),
                        hint: format!(
                            "set [market] receipt_exchange_rate_mantissa = {{ {symbol} = \"...\" }} (exchangeRateStored() on chain)"
                        ),
                    })?;
                let mantissa = bounded(&key, text, (1.0, 1e40))?;
                let under =
                    self.config.asset(a.underlying_asset.as_deref().unwrap_or("")).ok_or_else(|| unknown(self.pname(), "asset", symbol))?;
                let exponent = 18 + i32::from(under.decimals) - i32::from(a.decimals);
                check_bounds(&format!("{key} (underlying per receipt)"), mantissa / 10f64.powi(exponent), (1e-9, 1e9))
            }
            None => Err(RiskError::ParamsInvalid { problem: format!("receipt_model has no entry for {issuer}, the issuer of {symbol}") }),
        }
    }

    /// Refuses a debt in `asset` on `venue` unless the configuration has a borrow instrument of
    /// that asset on that venue and the venue is a lending protocol.
    fn check_lent(&self, asset: &str, venue: Option<&str>) -> Result<(), RiskError> {
        let not_lent = |venue: &str, why: &str| RiskError::NotLent { asset: asset.into(), venue: venue.into(), why: why.into() };
        let Some(v) = venue else { return Err(not_lent("the broker", "a negative balance must sit on a venue that lends it")) };
        let lending = self.config.protocol(v).is_some_and(|p| p.kind == ProtocolKind::Lending);
        if !lending {
            return Err(not_lent(v, "the venue is not a lending protocol"));
        }
        let lends = self
            .config
            .instruments
            .iter()
            .any(|i| i.kind == InstrumentKind::LendingBorrow && i.venue.as_deref() == Some(v) && i.asset.as_deref() == Some(asset));
        if !lends {
            return Err(not_lent(v, "the configuration has no borrow instrument of this asset on this venue"));
        }
        Ok(())
    }

    /// Backtest re-strike of an LP share: the pool keeps its token reserves and the quantity is
    /// scaled by `value per share at the reference day's prices / value at today's` (pegs as of
    /// today), so the position keeps its USD value and a delta hedge held at constant notional
    /// stays matched (finding 10 of issue 8: reserves and quantity used to be scaled both).
    fn lp_scale(&self, lp: &Instrument) -> Result<f64, RiskError> {
        let Some(r) = self.restrike else { return Ok(1.0) };
        let price = |c: Asset, spot: f64| spot * self.coin_price(c) / self.spot_or_one(c.underlying);
        let at = |c: Asset, reference: bool| {
            let now = self.spot_or_one(c.underlying);
            let s = if reference { r.ref_spot_usd.get(usize::from(c.underlying.0)).copied().flatten().unwrap_or(now) } else { now };
            price(c, s)
        };
        let value = |reference: bool| match lp {
            Instrument::UniswapV2Lp(u) => u.value_at(at(u.token0, reference), at(u.token1, reference)),
            Instrument::CurveLp(c) => {
                let n = usize::from(c.n_coins);
                let p: Vec<f64> = c.coins[..n].iter().map(|k| at(*k, reference)).collect();
                c.claims_at(&p).map_or(f64::NAN, |x| x[..n].iter().zip(&p).map(|(a, b)| a * b).sum())
            }
            _ => f64::NAN,
        };
        let scale = value(true) / value(false);
        if scale.is_finite() && scale > 0.0 {
            Ok(scale)
        } else {
            Err(RiskError::MarketDataMissing { what: "LP value on the reference day".into(), hint: format!("re-strike scale {scale}") })
        }
    }

    fn spot_or_one(&self, u: UnderlyingId) -> f64 {
        if u == UnderlyingId::USD { 1.0 } else { self.spot_now(u) }
    }

    /// A pool coin's price at the as-of instant (spot x peg), USD.
    fn coin_price(&self, c: Asset) -> f64 {
        let spot = if c.underlying == UnderlyingId::USD { 1.0 } else { self.spot_now(c.underlying) };
        let peg = match self.universe.pegs.get(usize::from(c.peg.0)) {
            Some(sym) if !sym.is_empty() => {
                self.universe.peg(sym).and_then(|p| self.universe.factor_of(Target::Peg(p))).map_or(1.0, |f| self.base.levels[f].max(1e-6))
            }
            _ => 1.0,
        };
        spot * peg
    }

    fn spot_now(&self, u: UnderlyingId) -> f64 {
        self.base.spot_usd(self.universe, u).unwrap_or(f64::NAN)
    }

    /// Quantity multiplier that keeps the USD notional of the reference day (backtest re-strike).
    fn notional_scale(&self, u: Option<UnderlyingId>) -> f64 {
        match (self.restrike, u) {
            (Some(r), Some(u)) if u != UnderlyingId::USD => match r.ref_spot_usd.get(usize::from(u.0)).copied().flatten() {
                Some(s_ref) => s_ref / self.spot_now(u),
                None => 1.0,
            },
            _ => 1.0,
        }
    }
}

fn push_link(out: &mut Vec<(String, f64)>, protocol: &str, fraction: f64) {
    if let Some(l) = out.iter_mut().find(|(p, _)| p == protocol) {
        l.1 = l.1.max(fraction);
    } else {
        out.push((protocol.to_string(), fraction));
    }
}

impl Book {
    /// Compiles a portfolio. With `restrike`, quantities are rescaled to the reference day's USD
    /// notional, option strikes keep their moneyness and expiries their tenor, perpetual entries
    /// are the current mark and LP shares keep their USD value.
    pub fn compile(
        config: &Config,
        params: &crate::params::RiskParams,
        universe: &Universe,
        base: &BaseMarket,
        portfolio: &Portfolio,
        restrike: Option<&Restrike>,
    ) -> Result<Book, RiskError> {
        let cx = Ctx { config, params, universe, base, portfolio, restrike };
        let mut book = Book { name: portfolio.name.clone(), instruments: Vec::new(), positions: Vec::new() };
        for (k, p) in portfolio.positions.iter().enumerate() {
            let qty = bounded(&format!("positions[{k}].quantity"), &p.quantity, QUANTITY_BOUNDS)?;
            let inst = config.instrument(&p.instrument).ok_or_else(|| unknown(&portfolio.name, "instrument", &p.instrument))?;
            let entry = match &p.entry_price_usd {
                Some(t) if restrike.is_none() => Some(bounded(&format!("positions[{k}].entry_price_usd"), t, PRICE_USD_BOUNDS)?),
                _ => None,
            };
            let (bi, sign, entry_gap) = compile_instrument(&cx, inst, entry)?;
            let qty = qty * bi.asset.as_deref().map_or(Ok(1.0), |a| cx.receipt_factor(a))?;
            if bi.class == Class::Lp {
                check_lp_quantity(portfolio, &bi, qty, k)?;
            }
            if entry_gap != 0.0 {
                // The position's unrealised P&L against the mark, (mark - entry) per unit, is USD
                // owed by the venue; the perp itself is held at the mark, so every entry price nets
                // into one risk-equivalent instrument (finding 4 of issue 8).
                let cash = cash_instrument(&bi);
                let idx = book.intern(cash);
                book.positions.push(BookPosition {
                    instrument: idx,
                    quantity: sign * qty * entry_gap,
                    label: format!("{} unrealised P&L", p.instrument),
                    is_balance: false,
                });
            }
            let scale = if bi.class == Class::Lp { cx.lp_scale(&bi.pricing)? } else { cx.notional_scale(bi.underlying) };
            let idx = book.intern(bi);
            book.positions.push(BookPosition {
                instrument: idx,
                quantity: sign * qty * scale,
                label: p.instrument.clone(),
                is_balance: false,
            });
        }
        for (k, b) in portfolio.balances.iter().enumerate() {
            let amount = bounded(&format!("balances[{k}].amount"), &b.amount, QUANTITY_BOUNDS)?;
            if amount < 0.0 {
                cx.check_lent(&b.asset, b.venue.as_deref())?;
            }
            let amount = amount * cx.receipt_factor(&b.asset)?;
            let asset = cx.asset(&b.asset)?;
            let a = config.asset(&b.asset).ok_or_else(|| unknown(&portfolio.name, "asset", &b.asset))?;
            let mut links = Vec::new();
            cx.issuer_links(&b.asset, 1.0, &mut links);
            if let Some(v) = &b.venue {
                if config.protocol(v).is_none() {
                    return Err(unknown(&portfolio.name, "venue protocol", v));
                }
                push_link(&mut links, v, 1.0);
            }
            let id = match &b.venue {
                Some(v) => format!("{}@{v}", b.asset),
                None => b.asset.clone(),
            };
            let mut keys = vec![b.asset.clone()];
            keys.push(universe.underlyings[usize::from(asset.underlying.0)].clone());
            let bi = BookInstrument {
                id: id.clone(),
                pricing: Instrument::Spot(asset),
                class: Class::Spot,
                underlying: Some(asset.underlying),
                venue: b.venue.clone(),
                asset: Some(b.asset.clone()),
                asset_kind: Some(a.kind),
                links,
                liquidity_keys: keys,
                expiry_days: None,
                outcome: None,
                unwind: None,
                issuer_collapse: cx.unbacked_issuer(&b.asset),
            };
            let scale = cx.notional_scale(bi.underlying);
            let idx = book.intern(bi);
            book.positions.push(BookPosition {
                instrument: idx,
                quantity: amount * scale,
                label: format!("balance {id}"),
                is_balance: true,
            });
        }
        book.canonicalise();
        Ok(book)
    }

    /// Puts instruments and positions in a canonical order (instruments by id, then by pricing;
    /// positions by instrument, quantity and label), so that the order of the portfolio file
    /// never changes a bit of the margin (finding 12 of issue 8).
    fn canonicalise(&mut self) {
        let keys: Vec<(String, String)> = self.instruments.iter().map(|i| (i.id.clone(), format!("{:?}", i.pricing))).collect();
        let mut order: Vec<usize> = (0..self.instruments.len()).collect();
        order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        let mut new_index = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        let mut old: Vec<Option<BookInstrument>> = std::mem::take(&mut self.instruments).into_iter().map(Some).collect();
        self.instruments = order.iter().filter_map(|&o| old[o].take()).collect();
        assert_eq!(self.instruments.len(), order.len(), "canonical order is a permutation");
        for p in &mut self.positions {
            p.instrument = new_index[p.instrument];
        }
        self.positions
            .sort_by(|a, b| a.instrument.cmp(&b.instrument).then(a.quantity.total_cmp(&b.quantity)).then_with(|| a.label.cmp(&b.label)));
    }

    /// Refuses an as-of instant before a protocol the book is a claim on was launched (a venue
    /// that did not exist cannot hold a position). The backtest, which replays old markets on
    /// today's venues, does not call this (`docs/backtest.md`).
    pub fn check_launches(&self, config: &Config, as_of: marketdata::Hour) -> Result<(), RiskError> {
        let day = as_of.0.div_euclid(24);
        for inst in &self.instruments {
            for (p, _) in &inst.links {
                let Some(prot) = config.protocol(p) else { continue };
                let launched = model::parse_date(&prot.risk.launched).map_err(|e| RiskError::PortfolioInvalid { problem: e })?;
                if day < launched {
                    return Err(RiskError::BeforeLaunch {
                        protocol: p.clone(),
                        launched: prot.risk.launched.clone(),
                        as_of: as_of.to_iso(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Refuses an as-of instant before the first observation of the own price of an underlying
    /// the book holds (earlier panel levels are proxies scaled from another coin).
    pub fn check_first_observations(
        &self,
        universe: &Universe,
        panel: &marketdata::FactorPanel,
        as_of: marketdata::Hour,
    ) -> Result<(), RiskError> {
        for inst in &self.instruments {
            let Some(u) = inst.underlying.filter(|u| *u != UnderlyingId::USD) else { continue };
            let Some(f) = universe.factor_of(Target::Spot(u)) else { continue };
            let first = panel.real_span(f).map(|s| s.0);
            if first.is_none_or(|t| t > as_of) {
                return Err(RiskError::BeforeFirstObservation {
                    underlying: universe.underlyings[usize::from(u.0)].clone(),
                    first: first.map_or("never".into(), |t| t.to_iso()),
                    as_of: as_of.to_iso(),
                });
            }
        }
        Ok(())
    }

    /// The first asset of the book that did not exist at `as_of`: its issuer protocol launched
    /// later, and its peg has no own observation by then (the panel carries the documented
    /// stand-in, e.g. stETH/ETH as `1 - |DAI - 1|` before Lido's launch on 2020-12-18). The
    /// backtest judges coverage only on days every asset of the book existed and reports the days
    /// before apart, as a stress (`docs/backtest.md`); live margin refuses such an as-of outright
    /// (`check_launches`). An asset whose documented proxy is its only source while it exists
    /// (sBTC) is not a stand-in; one launched later is (stETH before 2020-12-18, multi-collateral
    /// DAI before 2019-11-18).
    pub fn peg_stand_in(
        &self,
        config: &Config,
        universe: &Universe,
        panel: &marketdata::FactorPanel,
        as_of: marketdata::Hour,
    ) -> Option<String> {
        let day = as_of.0.div_euclid(24);
        self.instruments.iter().filter_map(|i| i.asset.as_deref()).find_map(|sym| {
            let f = universe.factor_of(Target::Peg(universe.peg(sym)?))?;
            let observed = panel.real_span(f).is_some_and(|(first, _)| first <= as_of);
            let issuer = config.protocol(config.asset(sym)?.protocol.as_deref()?)?;
            let launched = model::parse_date(&issuer.risk.launched).ok()?;
            (!observed && day < launched).then(|| sym.to_string())
        })
    }

    /// Checks every position's value at the as-of instant against [`POSITION_USD_MAX`].
    pub fn check_values(&self, base_values: &[f64]) -> Result<(), RiskError> {
        for p in &self.positions {
            let v = p.quantity * base_values[p.instrument];
            check_bounds(&format!("value of {}", p.label), v, (-POSITION_USD_MAX, POSITION_USD_MAX))?;
        }
        Ok(())
    }

    fn intern(&mut self, bi: BookInstrument) -> usize {
        if let Some(i) = self.instruments.iter().position(|x| x.id == bi.id && x.pricing == bi.pricing) {
            return i;
        }
        self.instruments.push(bi);
        self.instruments.len() - 1
    }
}

/// USD owed by the venue of `perp` (same claims as the perp: venue and settlement issuer).
fn cash_instrument(perp: &BookInstrument) -> BookInstrument {
    let venue = perp.venue.clone().unwrap_or_default();
    BookInstrument {
        id: format!("USD@{venue}"),
        pricing: Instrument::Spot(Asset::native(UnderlyingId::USD)),
        class: Class::Cash,
        underlying: Some(UnderlyingId::USD),
        venue: perp.venue.clone(),
        asset: None,
        asset_kind: None,
        links: perp.links.clone(),
        liquidity_keys: Vec::new(),
        expiry_days: None,
        outcome: None,
        unwind: None,
        issuer_collapse: None,
    }
}

/// An LP position holds between 0 and the pool's whole supply of shares.
fn check_lp_quantity(portfolio: &Portfolio, bi: &BookInstrument, qty: f64, k: usize) -> Result<(), RiskError> {
    let sym = bi.asset.as_deref().unwrap_or("");
    let pool = portfolio.pools.iter().find(|p| p.asset == sym);
    let supply = match pool {
        Some(p) => bounded(&format!("pools.{sym}.total_supply"), &p.total_supply, POOL_AMOUNT_BOUNDS)?,
        None => return Err(RiskError::PortfolioInvalid { problem: format!("LP {sym} needs a [[pools]] entry") }),
    };
    check_bounds(&format!("positions[{k}].quantity (LP shares of {sym})"), qty, (0.0, supply))?;
    Ok(())
}

/// Compiles one configured instrument; returns it, the sign applied to the quantity and, for a
/// perpetual, `mark entry - given entry` per unit (the perp is compiled at the mark entry).
fn compile_instrument(
    cx: &Ctx<'_>,
    inst: &model::Instrument,
    entry_price_usd: Option<f64>,
) -> Result<(BookInstrument, f64, f64), RiskError> {
    let pname = cx.pname();
    let mut links = Vec::new();
    if let Some(v) = &inst.venue {
        push_link(&mut links, v, 1.0);
    }
    let mut keys = vec![inst.id.clone()];
    let mut bi = BookInstrument {
        id: inst.id.clone(),
        pricing: Instrument::Spot(Asset::native(UnderlyingId::USD)),
        class: Class::Spot,
        underlying: None,
        venue: inst.venue.clone(),
        asset: inst.asset.clone(),
        asset_kind: inst.asset.as_deref().and_then(|a| cx.config.asset(a)).map(|a| a.kind),
        links: Vec::new(),
        liquidity_keys: Vec::new(),
        expiry_days: None,
        outcome: None,
        unwind: None,
        issuer_collapse: None,
    };
    let mut sign = 1.0;
    let mut entry_gap = 0.0;
    match inst.kind {
        InstrumentKind::Spot | InstrumentKind::LendingDeposit | InstrumentKind::LendingBorrow => {
            let sym = inst.asset.as_deref().unwrap_or("");
            let asset = cx.asset(sym)?;
            bi.pricing = Instrument::Spot(asset);
            bi.underlying = Some(asset.underlying);
            bi.class = match inst.kind {
                InstrumentKind::LendingDeposit => Class::Deposit,
                InstrumentKind::LendingBorrow => Class::Borrow,
                _ => Class::Spot,
            };
            if inst.kind == InstrumentKind::LendingBorrow {
                // A debt is a liability to the venue, not a claim on the asset's issuer.
                cx.check_lent(sym, inst.venue.as_deref())?;
                sign = -1.0;
            } else {
                cx.issuer_links(sym, 1.0, &mut links);
                bi.issuer_collapse = cx.unbacked_issuer(sym);
            }
            keys.push(sym.to_string());
            keys.push(cx.universe.underlyings[usize::from(asset.underlying.0)].clone());
        }
        InstrumentKind::Perpetual | InstrumentKind::Option => {
            let usym = inst.underlying.as_deref().unwrap_or("");
            let u = cx.universe.underlying(usym).ok_or_else(|| unknown(pname, "underlying", usym))?;
            bi.underlying = Some(u);
            if let Some(s) = &inst.settlement_asset {
                cx.issuer_links(s, 1.0, &mut links);
            }
            let spot = cx.spot_now(u);
            if !spot.is_finite() {
                return Err(RiskError::MarketDataMissing { what: format!("price:{usym}"), hint: "no history and no override".into() });
            }
            if inst.kind == InstrumentKind::Perpetual {
                let premium = cx.universe.factor_of(Target::Premium(u)).map_or(0.0, |f| cx.base.levels[f].exp() - 1.0);
                let entry = spot * (1.0 + premium);
                entry_gap = entry_price_usd.map_or(0.0, |e| entry - e);
                bi.pricing =
                    Instrument::Perpetual(Perpetual { underlying: u, entry_price_usd: entry, last_funding_years: cx.base.now_years });
                bi.class = Class::Perp;
            } else {
                let strike_text = inst.strike_usd.as_deref().unwrap_or("");
                let mut strike = parse_decimal(&format!("{}.strike_usd", inst.id), strike_text)?;
                let expiry_text = inst.expiry.as_deref().unwrap_or("");
                let expiry_ms = model::parse_datetime_ms(expiry_text).map_err(|e| RiskError::PortfolioInvalid { problem: e })?;
                let mut expiry_years = expiry_ms as f64 / 1000.0 / pricing::SECONDS_PER_YEAR;
                if let Some(r) = cx.restrike {
                    if let Some(Some(s_ref)) = r.ref_spot_usd.get(usize::from(u.0)) {
                        strike *= spot / s_ref;
                    }
                    expiry_years = cx.base.now_years + (expiry_years - r.ref_now_years);
                }
                if cx.universe.factor_of(Target::Vol(u)).is_none() {
                    return Err(RiskError::MarketDataMissing { what: format!("vol:{usym}"), hint: "add a [factor_proxies] entry".into() });
                }
                let right = match inst.right {
                    Some(ModelRight::Put) => OptionRight::Put,
                    _ => OptionRight::Call,
                };
                bi.pricing = Instrument::Option(EuropeanOption {
                    underlying: u,
                    strike_usd: strike,
                    expiry_years,
                    right,
                    model: OptionModel::BlackScholes,
                });
                bi.class = Class::Option;
                bi.expiry_days = Some((expiry_years - cx.base.now_years) * 365.0);
            }
            // A derivative closes on its own venue first; the underlying's depth is the fallback.
            if let Some(v) = &inst.venue {
                keys.push(v.clone());
            }
            keys.push(usym.to_string());
        }
        InstrumentKind::LpPosition => {
            let sym = inst.asset.as_deref().unwrap_or("");
            let a = cx.config.asset(sym).ok_or_else(|| unknown(pname, "asset", sym))?;
            let pool_assets = a.pool_assets.clone().unwrap_or_default();
            let pool = cx.portfolio.pools.iter().find(|p| p.asset == sym).ok_or_else(|| RiskError::PortfolioInvalid {
                problem: format!("LP instrument {} needs a [[pools]] entry for {sym} (reserves, total_supply)", inst.id),
            })?;
            if pool.reserves.len() != pool_assets.len() {
                return Err(RiskError::PortfolioInvalid {
                    problem: format!("pool {sym}: {} reserves for {} assets", pool.reserves.len(), pool_assets.len()),
                });
            }
            let coins = pool_assets.iter().map(|s| cx.asset(s)).collect::<Result<Vec<_>, _>>()?;
            let reserves = pool
                .reserves
                .iter()
                .enumerate()
                .map(|(k, t)| bounded(&format!("pools.{sym}.reserves[{k}]"), t, POOL_AMOUNT_BOUNDS))
                .collect::<Result<Vec<_>, _>>()?;
            let supply = bounded(&format!("pools.{sym}.total_supply"), &pool.total_supply, POOL_AMOUNT_BOUNDS)?;
            let protocol_kind = a.protocol.as_deref().and_then(|p| cx.config.protocol(p)).map(|p| p.kind);
            bi.pricing = match protocol_kind {
                Some(ProtocolKind::ConstantProductAmm) if coins.len() == 2 => {
                    bi.unwind = Some(Unwind::ConstantProduct { total_supply: supply });
                    Instrument::UniswapV2Lp(
                        pricing::uniswap_v2::UniswapV2Lp::from_reserves(coins[0], coins[1], reserves[0], reserves[1], supply)
                            .map_err(|e| RiskError::PortfolioInvalid { problem: format!("pool {sym}: {e}") })?,
                    )
                }
                Some(ProtocolKind::StableswapAmm) => {
                    let amp = check_bounds(&format!("pools.{sym}.amp"), pool.amp.unwrap_or(cx.params.stableswap_amp_default), AMP_BOUNDS)?;
                    let prices_usd = coins.iter().map(|c| cx.coin_price(*c)).collect();
                    bi.unwind = Some(Unwind::Stableswap { balances: reserves.clone(), prices_usd, amp, total_supply: supply });
                    Instrument::CurveLp(
                        pricing::curve::CurveLp::from_balances(&coins, amp, &reserves, supply)
                            .map_err(|e| RiskError::PortfolioInvalid { problem: format!("pool {sym}: {e}") })?,
                    )
                }
                _ => {
                    return Err(RiskError::PortfolioInvalid {
                        problem: format!("LP {sym}: only constant-product (2 coins) and stableswap pools are supported"),
                    });
                }
            };
            bi.class = Class::Lp;
            bi.underlying = coins.iter().map(|c| c.underlying).find(|u| *u != UnderlyingId::USD).or(Some(UnderlyingId::USD));
            cx.issuer_links(sym, 1.0, &mut links);
            let n = pool_assets.len() as f64;
            for s in &pool_assets {
                cx.issuer_links(s, 1.0 / n, &mut links);
            }
            keys.push(sym.to_string());
        }
        InstrumentKind::PredictionShare => {
            let sym = inst.asset.as_deref().unwrap_or("");
            let a = cx.config.asset(sym).ok_or_else(|| unknown(pname, "asset", sym))?;
            let market = a.market.as_deref().unwrap_or("");
            let outcome = cx.universe.outcome(market).ok_or_else(|| unknown(pname, "prediction market", market))?;
            if !cx.base.probabilities.get(usize::from(outcome.0)).is_some_and(|p| p.is_finite()) {
                return Err(RiskError::MarketDataMissing {
                    what: format!("probability of {market}"),
                    hint: format!("set [market.probability] \"{market}\" = \"0.xx\" in the portfolio"),
                });
            }
            let side = if a.outcome.as_deref().is_some_and(|o| o.eq_ignore_ascii_case("no")) { OutcomeSide::No } else { OutcomeSide::Yes };
            // Prediction shares pay out in USDC on the configured venues.
            let collateral = cx.asset("USDC")?;
            bi.pricing = Instrument::Prediction(PredictionShare { outcome, side, collateral });
            bi.class = Class::Prediction;
            bi.outcome = Some(outcome);
            bi.underlying = Some(UnderlyingId::USD);
            cx.issuer_links(sym, 1.0, &mut links);
            cx.issuer_links("USDC", 1.0, &mut links);
            keys.push(sym.to_string());
        }
    }
    if let Some(v) = &inst.venue {
        keys.push(v.clone());
    }
    bi.links = links;
    bi.liquidity_keys = keys;
    Ok((bi, sign, entry_gap))
}
