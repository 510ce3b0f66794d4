//! Execution against leakage: cross internally first, then slice what is left over time with sizes and
//! intervals randomised from a seed passed in, capping the visible footprint on every venue per slice,
//! and price the schedule with a documented cost model (`docs/router.md`, "Cost model").
//!
//! Assumptions (stated, not hidden):
//! - Full resilience between slices: arbitrage restores every venue to the snapshot between two
//!   slices, so each slice is routed against the same market. The price of that assumption is the
//!   adverse-selection term, which charges every slice's visible impact, in part, to all that is
//!   still to be traded.
//! - Costs are f64 USD at the tokens' reference prices (risk arithmetic); amounts stay integers.

use crate::error::RouterError;
use crate::market::Market;
use crate::split::{RoutePlan, route};
use crate::venue::{TokenId, Venue, marginal_price_after};
use money::Amount;

/// Parameters of a schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceParams {
    /// Largest number of slices (a limit on what grows; a schedule needing more is refused).
    pub slices_max: u32,
    /// Length of the execution window, seconds; slice times fall within it.
    pub horizon_seconds: u64,
    /// Slice sizes are drawn in [1 - j, 1 + j] times the mean, j = this / 10,000 (< 10,000).
    pub size_jitter_bps: u32,
    /// Intervals are drawn in [1 - j, 1 + j] times the mean, j = this / 10,000 (< 10,000).
    pub time_jitter_bps: u32,
    /// No slice may move any venue's marginal price by more than this (basis points).
    pub footprint_cap_bps: f64,
    /// Share of each slice's visible impact that the market carries over against the rest of the
    /// order (information leakage / permanent impact), in [0, 1].
    pub leakage_fraction: f64,
}

impl SliceParams {
    /// The defaults documented in `docs/router.md`: up to 64 slices over an hour, +-30% sizes, +-50%
    /// intervals, at most 10 bp visible move per venue per slice, a third of impact leaks.
    #[must_use]
    pub fn default_params() -> Self {
        SliceParams {
            slices_max: 64,
            horizon_seconds: 3_600,
            size_jitter_bps: 3_000,
            time_jitter_bps: 5_000,
            footprint_cap_bps: 10.0,
            leakage_fraction: 1.0 / 3.0,
        }
    }

    fn check(&self) -> Result<(), RouterError> {
        let bad = |name, value: String, reason| Err(RouterError::ParameterInvalid { name, value, reason });
        if self.slices_max == 0 || self.slices_max > 10_000 {
            return bad("slices_max", self.slices_max.to_string(), "must be in 1..=10000");
        }
        if self.size_jitter_bps >= 10_000 || self.time_jitter_bps >= 10_000 {
            return bad("jitter_bps", format!("{}/{}", self.size_jitter_bps, self.time_jitter_bps), "must be below 10000");
        }
        if !(self.footprint_cap_bps > 0.0 && self.footprint_cap_bps.is_finite()) {
            return bad("footprint_cap_bps", self.footprint_cap_bps.to_string(), "must be positive");
        }
        if !(0.0..=1.0).contains(&self.leakage_fraction) {
            return bad("leakage_fraction", self.leakage_fraction.to_string(), "must be in [0, 1]");
        }
        Ok(())
    }
}

/// A seeded generator (splitmix64): the only randomness, and it arrives as a seed.
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    /// From a seed.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        SeededRng(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A factor uniform in [1 - j, 1 + j] with j = `jitter_bps` / 10,000, in parts per 10^6.
    pub fn jitter_ppm(&mut self, jitter_bps: u32) -> i128 {
        let j = i128::from(jitter_bps) * 100;
        let span = 2 * j + 1;
        1_000_000 - j + i128::from(self.next_u64() % (span as u64))
    }
}

/// One slice of a schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// Seconds after the schedule's start.
    pub at_seconds: u64,
    /// The slice's route (venues, exact amounts).
    pub plan: RoutePlan,
    /// Largest marginal price move it causes on any venue, basis points.
    pub footprint_bps: f64,
}

/// Expected costs of a schedule, USD at reference prices.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CostBreakdown {
    /// Venue fees (each allocation's input times its fee rate).
    pub fees_usd: f64,
    /// Price impact: the shortfall of the outputs against the inputs at reference prices, less fees.
    pub impact_usd: f64,
    /// Expected adverse selection: leakage fraction x each slice's impact x what is still to trade.
    pub adverse_selection_usd: f64,
    /// Sum of the three.
    pub total_usd: f64,
    /// Total over the notional, basis points.
    pub total_bps: f64,
    /// Notional of the whole order (crossed part included), USD.
    pub notional_usd: f64,
}

/// A schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Input crossed against offsetting client flow at the reference price (no external trade).
    pub crossed_internally: Amount,
    /// External slices in time order; their inputs plus the crossed part sum to the order.
    pub slices: Vec<Slice>,
    /// Expected costs.
    pub cost: CostBreakdown,
}

/// The order: `amount` of `from` into `to`, with `offsetting_flow` of client flow in the opposite
/// direction available to cross, expressed in `from` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    /// Input token.
    pub from: TokenId,
    /// Output token.
    pub to: TokenId,
    /// Input amount.
    pub amount: Amount,
    /// Offsetting client flow available for internal crossing, in `from` units.
    pub offsetting_flow: Amount,
}

/// Cross, slice and route an order. The same inputs and seed give the same schedule.
///
/// # Errors
/// `ParameterInvalid`, `AmountInvalid`, `LimitExceeded` if the footprint cap needs more than
/// `slices_max` slices, routing errors.
pub fn schedule(market: &Market, order: Order, params: &SliceParams, seed: u64) -> Result<Schedule, RouterError> {
    params.check()?;
    if order.amount.0 <= 0 || order.offsetting_flow.0 < 0 {
        return Err(RouterError::AmountInvalid { amount: order.amount.0, reason: "order positive, offsetting flow non-negative" });
    }
    let crossed = Amount(order.amount.0.min(order.offsetting_flow.0));
    let external = order.amount.0 - crossed.0;
    let slices = if external == 0 { Vec::new() } else { slice_external(market, order, external, params, seed)? };
    let total: i128 = crossed.0 + slices.iter().map(|s| s.plan.amount_in.0).sum::<i128>();
    assert_eq!(total, order.amount.0, "a schedule must conserve the order");
    let cost = cost_of(market, order, &slices, params)?;
    Ok(Schedule { crossed_internally: crossed, slices, cost })
}

/// Try slice counts from the first-hop estimate upwards until every slice respects the footprint cap.
fn slice_external(market: &Market, order: Order, external: i128, params: &SliceParams, seed: u64) -> Result<Vec<Slice>, RouterError> {
    let mut count = first_guess(market, order, external, params);
    loop {
        if count > params.slices_max {
            return Err(RouterError::LimitExceeded {
                what: "slices for the footprint cap",
                value: count.to_string(),
                limit: params.slices_max.to_string(),
            });
        }
        if let Some(slices) = try_slices(market, order, external, count, params, seed)? {
            return Ok(slices);
        }
        count += count.div_ceil(4).max(1);
    }
}

/// Slices needed if every venue of the direct hop took its depth to the cap, with the size jitter.
fn first_guess(market: &Market, order: Order, external: i128, params: &SliceParams) -> u32 {
    let mut capacity = 0i128;
    for v in market.spot_venues(order.from, order.to) {
        let venue = &market.venues[v];
        if let Ok(m) = venue.marginal_price(order.from, order.to) {
            capacity += venue.depth_to_price(order.from, order.to, m * (1.0 - params.footprint_cap_bps / 1e4)).map_or(0, |a| a.0);
        }
    }
    if capacity <= 0 {
        return 1;
    }
    let jitter = f64::from(params.size_jitter_bps) / 1e4;
    let n = (external as f64 * (1.0 + jitter) / (capacity as f64 * (1.0 - jitter))).ceil();
    (n as u32).max(1)
}

/// `count` slices, or `None` if one of them breaks the footprint cap.
fn try_slices(
    market: &Market,
    order: Order,
    external: i128,
    count: u32,
    params: &SliceParams,
    seed: u64,
) -> Result<Option<Vec<Slice>>, RouterError> {
    let mut rng = SeededRng::new(seed);
    let sizes = slice_sizes(&mut rng, external, count, params.size_jitter_bps)?;
    let times = slice_times(&mut rng, count, params);
    let mut slices = Vec::with_capacity(sizes.len());
    for (size, at_seconds) in sizes.into_iter().zip(times) {
        let plan = route(market, order.from, order.to, Amount(size))?;
        let footprint_bps = footprint(market, &plan);
        if footprint_bps > params.footprint_cap_bps {
            return Ok(None);
        }
        slices.push(Slice { at_seconds, plan, footprint_bps });
    }
    Ok(Some(slices))
}

/// Randomised sizes summing exactly to `external` (the integer remainder to the smallest slice).
fn slice_sizes(rng: &mut SeededRng, external: i128, count: u32, jitter_bps: u32) -> Result<Vec<i128>, RouterError> {
    let weights: Vec<i128> = (0..count).map(|_| rng.jitter_ppm(jitter_bps)).collect();
    let weight_sum: i128 = weights.iter().sum();
    let mut sizes = Vec::with_capacity(weights.len());
    for w in &weights {
        sizes.push(money::mul_div(external, *w, weight_sum, money::Rounding::Floor)?);
    }
    let remainder = external - sizes.iter().sum::<i128>();
    let smallest = (0..sizes.len()).min_by_key(|&k| sizes[k]).unwrap_or(0);
    sizes[smallest] += remainder;
    sizes.retain(|&s| s > 0);
    Ok(sizes)
}

/// Slice times: randomised intervals scaled to end within the horizon, the first slice at 0.
fn slice_times(rng: &mut SeededRng, count: u32, params: &SliceParams) -> Vec<u64> {
    let intervals: Vec<i128> = (0..count).map(|_| rng.jitter_ppm(params.time_jitter_bps)).collect();
    let total: i128 = intervals.iter().sum::<i128>().max(1);
    let horizon = i128::from(params.horizon_seconds);
    let mut at = 0i128;
    let mut times = Vec::with_capacity(intervals.len());
    for w in intervals {
        times.push(u64::try_from(at).unwrap_or(0));
        at += horizon * w / total;
    }
    times
}

/// Largest relative marginal-price move any allocation of a plan causes on its venue, bps.
#[must_use]
pub fn footprint(market: &Market, plan: &RoutePlan) -> f64 {
    let mut worst = 0.0f64;
    for hop in plan.candidates.iter().flat_map(|c| &c.hops) {
        for a in &hop.allocations {
            let venue = &market.venues[a.venue];
            let Ok(before) = venue.marginal_price(hop.from, hop.to) else { continue };
            let after = marginal_price_after(venue, hop.from, hop.to, a.amount_in);
            worst = worst.max((1.0 - after / before) * 1e4);
        }
    }
    worst
}

fn usd(market: &Market, token: TokenId, amount: i128) -> Result<f64, RouterError> {
    let t = market.token_info(token)?;
    Ok(amount as f64 / t.scale.one() as f64 * t.reference_usd)
}

/// Fees, impact and adverse selection of a set of slices.
///
/// # Errors
/// `UnknownToken`.
pub fn cost_of(market: &Market, order: Order, slices: &[Slice], params: &SliceParams) -> Result<CostBreakdown, RouterError> {
    let notional_usd = usd(market, order.from, order.amount.0)?;
    let mut cost = CostBreakdown { notional_usd, ..CostBreakdown::default() };
    let mut remaining_usd = slices.iter().map(|s| usd(market, order.from, s.plan.amount_in.0)).sum::<Result<f64, _>>()?;
    for slice in slices {
        let in_usd = usd(market, order.from, slice.plan.amount_in.0)?;
        let out_usd = usd(market, order.to, slice.plan.amount_out.0)?;
        let mut fees = 0.0;
        for hop in slice.plan.candidates.iter().flat_map(|c| &c.hops) {
            for a in &hop.allocations {
                fees += usd(market, hop.from, a.amount_in.0)? * market.venues[a.venue].fee_bps() / 1e4;
            }
        }
        let shortfall = in_usd - out_usd;
        remaining_usd -= in_usd;
        cost.fees_usd += fees;
        cost.impact_usd += shortfall - fees;
        // The slice's visible impact, as a fraction of price, moves the market against what is left.
        let impact_fraction = if in_usd > 0.0 { (shortfall - fees).max(0.0) / in_usd } else { 0.0 };
        cost.adverse_selection_usd += params.leakage_fraction * impact_fraction * remaining_usd.max(0.0);
    }
    cost.total_usd = cost.fees_usd + cost.impact_usd + cost.adverse_selection_usd;
    cost.total_bps = if notional_usd > 0.0 { cost.total_usd / notional_usd * 1e4 } else { 0.0 };
    Ok(cost)
}
