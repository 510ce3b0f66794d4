//! The instruments the broker accepts, and their valuation per unit quantity.

use crate::aave::{compounded_growth, compounded_growth_rate, linear_growth};
use crate::curve::CurveLp;
use crate::error::PricingError;
use crate::greeks::{Greeks, MAX_LEGS, project};
use crate::market::{Asset, MarketState, OutcomeId, ReserveId, StakeId, UnderlyingId};
use crate::options::{self, OptionInputs, OptionModel, OptionRight};
use crate::uniswap_v2::UniswapV2Lp;
use crate::uniswap_v3::UniswapV3Position;

/// A perpetual future, one unit long (a short is a negative quantity).
///
/// Value per unit = (mark - entry) - funding accrued since the last settlement, where
/// mark = index spot x (1 + mark premium) and accrued funding = funding rate (per year, positive when
/// longs pay) x mark x elapsed years. Funding before `last_funding_years` is assumed settled into cash.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perpetual {
    /// The index the perpetual tracks.
    pub underlying: UnderlyingId,
    /// Entry price, USD.
    pub entry_price_usd: f64,
    /// Time funding was last settled, years on the market clock.
    pub last_funding_years: f64,
}

/// A European option on one unit of an underlying, strike and premium in USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EuropeanOption {
    /// The underlying (spot for Black-Scholes, the futures price series for Black-76).
    pub underlying: UnderlyingId,
    /// Strike, USD.
    pub strike_usd: f64,
    /// Expiry, years on the market clock.
    pub expiry_years: f64,
    /// Call or put.
    pub right: OptionRight,
    /// Pricing model.
    pub model: OptionModel,
}

/// Supply receipt (aToken) or variable debt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LendingSide {
    /// Receipt: worth + scaled balance x liquidity index (linear accrual).
    Supply,
    /// Debt: worth - scaled balance x variable borrow index (compounded accrual).
    Borrow,
}

/// One unit of *scaled* balance of an Aave-style reserve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LendingPosition {
    /// The reserve.
    pub reserve: ReserveId,
    /// Receipt or debt.
    pub side: LendingSide,
}

/// One share of a staking derivative: worth exchange rate x staked coin, where the staked coin (stETH)
/// trades at its own peg to the native coin (stETH/ETH): value = rate x spot(ETH) x peg(stETH/ETH).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StakingShare {
    /// The exchange rate (staked coins per share; 1.0 for rebasing tokens such as stETH itself).
    pub stake: StakeId,
    /// The staked coin as an asset: native underlying plus the market-discount peg.
    pub staked: Asset,
}

/// Side of a binary prediction-market share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeSide {
    /// Pays 1 if the outcome happens.
    Yes,
    /// Pays 1 if it does not.
    No,
}

/// A prediction-market share paying one unit of `collateral` on its side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictionShare {
    /// The outcome.
    pub outcome: OutcomeId,
    /// Yes or No.
    pub side: OutcomeSide,
    /// What it pays (USDC: the USD underlying with the USDC/USD peg).
    pub collateral: Asset,
}

/// Every instrument the broker understands. Values are per unit quantity, USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Instrument {
    /// A spot, wrapped or synthetic asset: spot x peg.
    Spot(Asset),
    /// A perpetual future.
    Perpetual(Perpetual),
    /// A European option.
    Option(EuropeanOption),
    /// A Uniswap v2 LP share.
    UniswapV2Lp(UniswapV2Lp),
    /// A Uniswap v3 position (per position).
    UniswapV3(UniswapV3Position),
    /// A Curve StableSwap LP share.
    CurveLp(CurveLp),
    /// A lending receipt or debt (per unit of scaled balance).
    Lending(LendingPosition),
    /// A staking derivative share.
    Staking(StakingShare),
    /// A prediction-market share.
    Prediction(PredictionShare),
}

fn single_asset_greeks(value_usd: f64, asset: Asset, spot: f64, peg: f64, dv_dprice: f64) -> Greeks {
    let mut g = Greeks { value_usd, ..Greeks::default() };
    project(&mut g, &[asset], &[spot], &[peg], &[dv_dprice], &[[0.0; MAX_LEGS]; MAX_LEGS]);
    g
}

impl Instrument {
    /// Value of one unit under `market`, USD. The hot path: no allocation, no Greeks.
    ///
    /// # Errors
    /// Missing or invalid market factors, invalid instrument parameters, or solver failure.
    #[inline]
    pub fn value(&self, market: &MarketState) -> Result<f64, PricingError> {
        match self {
            Instrument::Spot(asset) => market.asset_price_usd(*asset),
            Instrument::Perpetual(p) => {
                let mark = market.spot_usd(p.underlying)? * (1.0 + market.mark_premium(p.underlying)?);
                let elapsed = (market.now_years() - p.last_funding_years).max(0.0);
                Ok(mark - p.entry_price_usd - market.funding_rate_annual(p.underlying)? * mark * elapsed)
            }
            Instrument::Option(o) => {
                let s = market.spot_usd(o.underlying)?;
                let tau = o.expiry_years - market.now_years();
                if tau <= 0.0 {
                    return Ok(intrinsic(o, s));
                }
                let inp = option_inputs(o, market, s, tau)?;
                options::price(o.model, o.right, &inp)
            }
            Instrument::UniswapV2Lp(lp) => lp.value(market),
            Instrument::UniswapV3(pos) => pos.value(market),
            Instrument::CurveLp(lp) => lp.value(market),
            Instrument::Lending(l) => {
                let r = market.reserve(l.reserve)?;
                let price = market.asset_price_usd(r.asset)?;
                let elapsed = (market.now_years() - r.last_update_years).max(0.0);
                Ok(match l.side {
                    LendingSide::Supply => r.liquidity_index * linear_growth(r.liquidity_rate_annual, elapsed) * price,
                    LendingSide::Borrow => -r.variable_borrow_index * compounded_growth(r.variable_borrow_rate_annual, elapsed) * price,
                })
            }
            Instrument::Staking(s) => Ok(market.stake_rate(s.stake)? * market.asset_price_usd(s.staked)?),
            Instrument::Prediction(p) => {
                let prob = market.outcome_probability(p.outcome)?;
                let pays = match p.side {
                    OutcomeSide::Yes => prob,
                    OutcomeSide::No => 1.0 - prob,
                };
                Ok(pays * market.asset_price_usd(p.collateral)?)
            }
        }
    }

    /// Value and sensitivities of one unit under `market` (see `Greeks` for units).
    ///
    /// # Errors
    /// As `value`.
    pub fn greeks(&self, market: &MarketState) -> Result<Greeks, PricingError> {
        match self {
            Instrument::Spot(asset) => {
                let spot = market.spot_usd(asset.underlying)?;
                let peg = market.peg_ratio(asset.peg)?;
                Ok(single_asset_greeks(spot * peg, *asset, spot, peg, 1.0))
            }
            Instrument::Perpetual(p) => {
                let spot = market.spot_usd(p.underlying)?;
                let premium = market.mark_premium(p.underlying)?;
                let funding = market.funding_rate_annual(p.underlying)?;
                let elapsed = (market.now_years() - p.last_funding_years).max(0.0);
                let mark = spot * (1.0 + premium);
                let mut g = Greeks {
                    value_usd: mark - p.entry_price_usd - funding * mark * elapsed,
                    theta_per_year: -funding * mark,
                    ..Greeks::default()
                };
                if p.underlying != UnderlyingId::USD {
                    g.spot.add(p.underlying, (1.0 + premium) * (1.0 - funding * elapsed), 0.0);
                }
                Ok(g)
            }
            Instrument::Option(o) => {
                let s = market.spot_usd(o.underlying)?;
                let tau = o.expiry_years - market.now_years();
                let mut g = Greeks::default();
                if tau <= 0.0 {
                    g.value_usd = intrinsic(o, s);
                    let in_the_money = match o.right {
                        OptionRight::Call => s > o.strike_usd,
                        OptionRight::Put => s < o.strike_usd,
                    };
                    let delta = match (o.right, in_the_money) {
                        (_, false) => 0.0,
                        (OptionRight::Call, true) => 1.0,
                        (OptionRight::Put, true) => -1.0,
                    };
                    g.spot.add(o.underlying, delta, 0.0);
                    return Ok(g);
                }
                let inp = option_inputs(o, market, s, tau)?;
                let og = options::greeks(o.model, o.right, &inp)?;
                g.value_usd = og.price_usd;
                g.spot.add(o.underlying, og.delta, og.gamma);
                g.vega = og.vega;
                // Total time decay: Black-Scholes theta at fixed vol, plus the drift of the option's vol on the
                // surface as the clock moves (total-variance interpolation between expiries), so that theta
                // is the derivative of what a time-shifted revaluation returns.
                let vol_slope = market.implied_vol_time_slope(o.underlying, o.strike_usd, o.expiry_years)?;
                g.theta_per_year = og.theta_per_year + og.vega * vol_slope;
                g.rho = og.rho;
                Ok(g)
            }
            Instrument::UniswapV2Lp(lp) => lp.greeks(market),
            Instrument::UniswapV3(pos) => pos.greeks(market),
            Instrument::CurveLp(lp) => lp.greeks(market),
            Instrument::Lending(l) => {
                let r = market.reserve(l.reserve)?;
                let spot = market.spot_usd(r.asset.underlying)?;
                let peg = market.peg_ratio(r.asset.peg)?;
                let elapsed = (market.now_years() - r.last_update_years).max(0.0);
                let (units, units_per_year) = match l.side {
                    LendingSide::Supply => {
                        (r.liquidity_index * linear_growth(r.liquidity_rate_annual, elapsed), r.liquidity_index * r.liquidity_rate_annual)
                    }
                    LendingSide::Borrow => (
                        -r.variable_borrow_index * compounded_growth(r.variable_borrow_rate_annual, elapsed),
                        -r.variable_borrow_index * compounded_growth_rate(r.variable_borrow_rate_annual, elapsed),
                    ),
                };
                let mut g = single_asset_greeks(units * spot * peg, r.asset, spot, peg, units);
                g.theta_per_year = units_per_year * spot * peg;
                Ok(g)
            }
            Instrument::Staking(s) => {
                let rate = market.stake_rate(s.stake)?;
                let spot = market.spot_usd(s.staked.underlying)?;
                let peg = market.peg_ratio(s.staked.peg)?;
                Ok(single_asset_greeks(rate * spot * peg, s.staked, spot, peg, rate))
            }
            Instrument::Prediction(p) => {
                let prob = market.outcome_probability(p.outcome)?;
                let open = market.resolution(p.outcome)? == crate::market::Resolution::Open;
                let (pays, sign) = match p.side {
                    OutcomeSide::Yes => (prob, 1.0),
                    OutcomeSide::No => (1.0 - prob, -1.0),
                };
                let spot = market.spot_usd(p.collateral.underlying)?;
                let peg = market.peg_ratio(p.collateral.peg)?;
                let mut g = single_asset_greeks(pays * spot * peg, p.collateral, spot, peg, pays);
                // Once resolved the probability no longer moves the value.
                g.probability_delta = if open { sign * spot * peg } else { 0.0 };
                Ok(g)
            }
        }
    }
}

fn intrinsic(o: &EuropeanOption, s: f64) -> f64 {
    match o.right {
        OptionRight::Call => (s - o.strike_usd).max(0.0),
        OptionRight::Put => (o.strike_usd - s).max(0.0),
    }
}

#[inline]
fn option_inputs(o: &EuropeanOption, market: &MarketState, s: f64, tau: f64) -> Result<OptionInputs, PricingError> {
    Ok(OptionInputs {
        underlying_usd: s,
        strike_usd: o.strike_usd,
        time_years: tau,
        rate_annual: market.rate_annual(),
        carry_annual: market.carry_annual(o.underlying)?,
        vol_annual: market.implied_vol(o.underlying, o.strike_usd, o.expiry_years)?,
    })
}

/// Revalue many instruments under one market state into `values_usd` (same length), the margin engine's
/// per-scenario loop. Stops at the first error, returning its index.
///
/// # Errors
/// `(index, error)` of the first instrument that cannot be valued.
pub fn revalue_into(instruments: &[Instrument], market: &MarketState, values_usd: &mut [f64]) -> Result<(), (usize, PricingError)> {
    assert_eq!(instruments.len(), values_usd.len(), "one output slot per instrument");
    for (i, (inst, out)) in instruments.iter().zip(values_usd.iter_mut()).enumerate() {
        *out = inst.value(market).map_err(|e| (i, e))?;
        // Every model returns a finite number for validated inputs; a NaN here would silently poison a
        // margin sum, so catch it in debug builds at the source.
        debug_assert!(out.is_finite(), "instrument {i} valued at {out}");
    }
    Ok(())
}
