//! Optimal splitting of a trade across venues, and multi-hop paths.
//!
//! For parallel venues that all turn `from` into `to` (a *hop*), the output sum of concave functions
//! is maximal when every venue that trades ends at the same marginal price net of fees, and every venue
//! that does not trade starts below it (the optimality condition of the convex routing problem of
//! Angeris, Chitra, Evans and Boyd, "Optimal Routing for Constant Function Market Makers", 2022). We
//! bisect on that common price λ: each venue's `depth_to_price(λ)` is the input it takes, and the sum
//! falls as λ rises. The amounts are then made exact integers: each venue gets the floor of its depth
//! at the bracket's upper λ (so the sum never exceeds the trade) and the remainder ("dust") goes to the
//! venue that absorbs the most of the last bracket, i.e. whose marginal price is at λ.
//!
//! A route is one or more *candidates*: the direct hop, and chains `from -> via -> to` through one
//! intermediate token, each hop routed optimally (for a series of hops, maximising the first hop's
//! output is optimal because the rest is increasing in its input). Candidates are split by the same
//! rule one level up, the marginal price of a chain being the product of its hops' λ. A venue belongs
//! to at most one candidate (later candidates that would reuse one are dropped).

use crate::error::RouterError;
use crate::market::Market;
use crate::solve::{Bracket, illinois};
use crate::venue::{TokenId, Venue};
use money::Amount;

/// Bisection steps on the common marginal price (relative bracket 2^-60 of the start).
pub const PRICE_BISECTION_STEPS: u32 = 60;
/// The price bisection stops once its bracket is this narrow (relative); the integer amounts are then
/// settled by the dust rule.
pub const PRICE_RELATIVE_TOLERANCE: f64 = 1e-12;
/// Bisection steps on a candidate's input at the top level.
pub const AMOUNT_BISECTION_STEPS: u32 = 50;
/// Largest number of candidates (the direct hop plus chains) a route considers.
pub const MAX_CANDIDATES: usize = 8;

/// One venue's part of a hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// Index of the venue in the market.
    pub venue: usize,
    /// Exact input.
    pub amount_in: Amount,
    /// Exact output (`quote`).
    pub amount_out: Amount,
}

/// A hop: one input token to one output token across parallel venues.
#[derive(Debug, Clone, PartialEq)]
pub struct HopPlan {
    /// Input token.
    pub from: TokenId,
    /// Output token.
    pub to: TokenId,
    /// Venue parts with a positive input, in market order.
    pub allocations: Vec<Allocation>,
    /// The common marginal price net of fees at the solution (raw out per raw in).
    pub marginal_price: f64,
}

impl HopPlan {
    /// Sum of inputs.
    #[must_use]
    pub fn amount_in(&self) -> i128 {
        self.allocations.iter().map(|a| a.amount_in.0).sum()
    }
    /// Sum of outputs.
    #[must_use]
    pub fn amount_out(&self) -> i128 {
        self.allocations.iter().map(|a| a.amount_out.0).sum()
    }
}

/// A candidate path: the direct hop or a chain through one intermediate token.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidatePlan {
    /// The intermediate token, or `None` for the direct hop.
    pub via: Option<TokenId>,
    /// Hops in order (the output of each is the input of the next).
    pub hops: Vec<HopPlan>,
}

impl CandidatePlan {
    /// Input of the first hop.
    #[must_use]
    pub fn amount_in(&self) -> i128 {
        self.hops.first().map_or(0, HopPlan::amount_in)
    }
    /// Output of the last hop.
    #[must_use]
    pub fn amount_out(&self) -> i128 {
        self.hops.last().map_or(0, HopPlan::amount_out)
    }
    fn marginal_price(&self) -> f64 {
        self.hops.iter().map(|h| h.marginal_price).product()
    }
}

/// A routed trade.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutePlan {
    /// Input token.
    pub from: TokenId,
    /// Output token.
    pub to: TokenId,
    /// Exact input (equals the sum over candidates).
    pub amount_in: Amount,
    /// Exact output.
    pub amount_out: Amount,
    /// Candidates that received input.
    pub candidates: Vec<CandidatePlan>,
}

/// The hop structure of a candidate: the venue indices of each hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidatePath {
    /// Intermediate token, if any.
    pub via: Option<TokenId>,
    /// Tokens along the path, `from` first.
    pub tokens: Vec<TokenId>,
    /// Venue indices per hop.
    pub hops: Vec<Vec<usize>>,
}

/// The candidates from `from` to `to`: the direct hop, then chains through each other token, dropping any
/// that would reuse a venue.
///
/// # Errors
/// `NoRoute` if there is none.
pub fn candidate_paths(market: &Market, from: TokenId, to: TokenId) -> Result<Vec<CandidatePath>, RouterError> {
    let mut paths = Vec::new();
    let mut used: Vec<usize> = Vec::new();
    let direct = market.spot_venues(from, to);
    if !direct.is_empty() {
        used.extend(&direct);
        paths.push(CandidatePath { via: None, tokens: vec![from, to], hops: vec![direct] });
    }
    for k in 0..market.tokens.len() {
        let via = TokenId(k as u16);
        if via == from || via == to || paths.len() >= MAX_CANDIDATES {
            continue;
        }
        let (first, second) = (market.spot_venues(from, via), market.spot_venues(via, to));
        let overlaps = first.iter().chain(&second).any(|v| used.contains(v));
        if first.is_empty() || second.is_empty() || overlaps {
            continue;
        }
        used.extend(first.iter().chain(&second));
        paths.push(CandidatePath { via: Some(via), tokens: vec![from, via, to], hops: vec![first, second] });
    }
    if paths.is_empty() {
        let name = |t| market.token_info(t).map(|x| x.symbol.clone()).unwrap_or_default();
        return Err(RouterError::NoRoute { from: name(from), to: name(to) });
    }
    Ok(paths)
}

fn total_depth(market: &Market, venues: &[usize], from: TokenId, to: TokenId, price: f64) -> Result<Vec<i128>, RouterError> {
    venues.iter().map(|&v| market.venues[v].depth_to_price(from, to, price).map(|a| a.0)).collect()
}

/// Sum of the venues' depths to `price`, without a temporary vector.
fn depth_sum(market: &Market, venues: &[usize], from: TokenId, to: TokenId, price: f64) -> Result<i128, RouterError> {
    let mut sum = 0i128;
    for &v in venues {
        sum += market.venues[v].depth_to_price(from, to, price)?.0;
    }
    Ok(sum)
}

/// Narrows the price bracket `[lo, hi]` (depth sums at least `amount` at `lo`, below it at `hi`) to
/// [`PRICE_RELATIVE_TOLERANCE`] or an exact hit, by the Illinois method on the log price
/// ([`crate::solve`]); the ends returned are prices the depths were evaluated at.
fn narrow_price(
    market: &Market,
    venues: &[usize],
    (from, to): (TokenId, TokenId),
    amount: i128,
    (lo, s_lo): (f64, i128),
    (hi, s_hi): (f64, i128),
) -> Result<(f64, f64), RouterError> {
    if hi / lo - 1.0 < PRICE_RELATIVE_TOLERANCE {
        return Ok((lo, hi));
    }
    let start = Bracket { lo: lo.ln(), hi: hi.ln(), f_lo: (s_lo - amount) as f64, f_hi: (s_hi - amount) as f64 };
    let done = |b: &Bracket| b.hi - b.lo < PRICE_RELATIVE_TOLERANCE || b.f_lo == 0.0;
    let f = |u: f64| depth_sum(market, venues, from, to, u.exp()).map(|s| (s - amount) as f64);
    let (b, _) = illinois(start, PRICE_BISECTION_STEPS, done, f)?;
    // An end the search never moved keeps its exact starting price.
    let end = |u: f64, first: f64, exact: f64| if u == first { exact } else { u.exp() };
    Ok((end(b.lo, start.lo, lo), end(b.hi, start.hi, hi)))
}

/// Route `amount` across the parallel `venues` of one hop by equalising marginal prices.
///
/// # Errors
/// `AmountInvalid`, `InsufficientLiquidity` if the venues together cannot absorb it, venue errors.
pub fn route_hop(market: &Market, venues: &[usize], from: TokenId, to: TokenId, amount: Amount) -> Result<HopPlan, RouterError> {
    if amount.0 <= 0 {
        return Err(RouterError::AmountInvalid { amount: amount.0, reason: "a trade must be positive" });
    }
    let parts = if venues.len() == 1 { vec![amount.0] } else { equalise(market, venues, from, to, amount.0)? };
    let mut allocations = Vec::with_capacity(venues.len());
    for (&venue, &part) in venues.iter().zip(&parts) {
        if part > 0 {
            let amount_out = market.venues[venue].quote(from, to, Amount(part))?;
            allocations.push(Allocation { venue, amount_in: Amount(part), amount_out });
        }
    }
    let total: i128 = allocations.iter().map(|a| a.amount_in.0).sum();
    assert_eq!(total, amount.0, "a hop's allocations must conserve its input");
    let marginal_price = marginal_after_allocations(market, &allocations, from, to);
    Ok(HopPlan { from, to, allocations, marginal_price })
}

/// The hop's marginal price after its allocations: the best marginal price left among its venues,
/// estimated from exact quotes one part in a million beyond each allocation.
fn marginal_after_allocations(market: &Market, allocations: &[Allocation], from: TokenId, to: TokenId) -> f64 {
    let mut best = 0.0f64;
    for a in allocations {
        let step = (a.amount_in.0 / 1_000_000).max(1_000);
        if let Ok(more) = market.venues[a.venue].quote(from, to, Amount(a.amount_in.0 + step)) {
            best = best.max((more.0 - a.amount_out.0) as f64 / step as f64);
        }
    }
    best
}

/// The integer inputs per venue that equalise marginal prices for a total of `amount`.
fn equalise(market: &Market, venues: &[usize], from: TokenId, to: TokenId, amount: i128) -> Result<Vec<i128>, RouterError> {
    let capacity: i128 = venues.iter().map(|&v| market.venues[v].max_input(from, to).map(|a| a.0)).sum::<Result<i128, _>>()?;
    if capacity < amount {
        return Err(RouterError::InsufficientLiquidity { venue: "all venues of the hop".into(), requested: amount, available: capacity });
    }
    // The best starting marginal price is the bracket's top (no venue trades above it).
    let mut hi = venues.iter().filter_map(|&v| market.venues[v].marginal_price(from, to).ok()).fold(0.0, f64::max);
    if hi <= 0.0 {
        return Err(RouterError::InsufficientLiquidity { venue: "all venues of the hop".into(), requested: amount, available: 0 });
    }
    let (mut lo, mut s_lo, mut s_hi) = (hi, 0i128, 0i128);
    for _ in 0..200 {
        s_lo = depth_sum(market, venues, from, to, lo)?;
        if s_lo >= amount {
            break;
        }
        (hi, s_hi) = (lo, s_lo);
        lo /= 2.0;
    }
    let (lo, hi) = narrow_price(market, venues, (from, to), amount, (lo, s_lo), (hi, s_hi))?;
    if depth_sum(market, venues, from, to, lo)? == amount {
        return total_depth(market, venues, from, to, lo);
    }
    let mut parts = total_depth(market, venues, from, to, hi)?;
    let lower = total_depth(market, venues, from, to, lo)?;
    let assigned: i128 = parts.iter().sum();
    let dust = amount - assigned.min(amount);
    if assigned > amount {
        // The bracket's upper price was checked to take less than the trade; more now means the depth
        // functions are not monotone in the price (a float artefact), which is refused, not patched.
        return Err(RouterError::NoConvergence { solver: "hop price bisection", iterations: PRICE_BISECTION_STEPS });
    }
    // The venue whose depth grows most across the final bracket is the one at the margin.
    let marginal_venue = (0..venues.len()).max_by_key(|&k| lower[k] - parts[k]).unwrap_or(0);
    parts[marginal_venue] += dust;
    Ok(parts)
}

/// Route a candidate path: each hop optimally, in order.
///
/// # Errors
/// As `route_hop`.
pub fn route_candidate(market: &Market, path: &CandidatePath, amount: Amount) -> Result<CandidatePlan, RouterError> {
    let mut hops = Vec::with_capacity(path.hops.len());
    let mut input = amount;
    for (k, venues) in path.hops.iter().enumerate() {
        let hop = route_hop(market, venues, path.tokens[k], path.tokens[k + 1], input)?;
        input = Amount(hop.amount_out());
        if input.0 <= 0 {
            return Err(RouterError::AmountInvalid {
                amount: input.0,
                reason: "a hop's output is zero; the trade is too small for this path",
            });
        }
        hops.push(hop);
    }
    Ok(CandidatePlan { via: path.via, hops })
}

/// Route `amount` of `from` into `to`: the optimal split across every candidate path.
///
/// # Errors
/// `NoRoute`, `AmountInvalid`, `InsufficientLiquidity`, venue errors.
pub fn route(market: &Market, from: TokenId, to: TokenId, amount: Amount) -> Result<RoutePlan, RouterError> {
    let paths = candidate_paths(market, from, to)?;
    let candidates =
        if paths.len() == 1 { vec![route_candidate(market, &paths[0], amount)?] } else { split_candidates(market, &paths, amount)? };
    let amount_out = Amount(candidates.iter().map(CandidatePlan::amount_out).sum());
    let amount_in = Amount(candidates.iter().map(CandidatePlan::amount_in).sum());
    assert_eq!(amount_in, amount, "a route must conserve its input");
    Ok(RoutePlan { from, to, amount_in, amount_out, candidates })
}

/// Marginal price of a candidate after an input of `a` (0 if it cannot take it).
fn candidate_marginal(market: &Market, path: &CandidatePath, a: i128) -> f64 {
    let probe = a.max(1_000);
    route_candidate(market, path, Amount(probe)).map(|c| c.marginal_price()).unwrap_or(0.0)
}

/// The input a candidate takes at a common marginal price `price` (bisection on its input).
fn candidate_depth(market: &Market, path: &CandidatePath, price: f64, cap: i128) -> i128 {
    if candidate_marginal(market, path, 0) <= price {
        return 0;
    }
    let (mut lo, mut hi) = (0i128, cap);
    for _ in 0..AMOUNT_BISECTION_STEPS {
        if hi - lo <= 1 {
            break;
        }
        let mid = lo + (hi - lo) / 2;
        if candidate_marginal(market, path, mid) > price { lo = mid } else { hi = mid }
    }
    lo
}

/// Split across several candidates by bisection on the common marginal price.
fn split_candidates(market: &Market, paths: &[CandidatePath], amount: Amount) -> Result<Vec<CandidatePlan>, RouterError> {
    let depth = |price: f64| -> Vec<i128> { paths.iter().map(|p| candidate_depth(market, p, price, amount.0)).collect() };
    let mut hi = paths.iter().map(|p| candidate_marginal(market, p, 0)).fold(0.0, f64::max);
    let mut lo = hi;
    for _ in 0..200 {
        if depth(lo).iter().sum::<i128>() >= amount.0 {
            break;
        }
        hi = lo;
        lo /= 2.0;
    }
    for _ in 0..AMOUNT_BISECTION_STEPS {
        let mid = (lo * hi).sqrt();
        if depth(mid).iter().sum::<i128>() >= amount.0 { lo = mid } else { hi = mid }
    }
    let mut parts = depth(hi);
    let lower = depth(lo);
    let assigned: i128 = parts.iter().sum();
    let marginal = (0..paths.len()).max_by_key(|&k| lower[k] - parts[k]).unwrap_or(0);
    parts[marginal] += amount.0 - assigned.min(amount.0);
    let mut plans = Vec::new();
    for (path, &part) in paths.iter().zip(&parts) {
        if part > 0 {
            plans.push(route_candidate(market, path, Amount(part))?);
        }
    }
    Ok(plans)
}

/// Output of the best single venue path: one venue per hop, the best candidate.
///
/// # Errors
/// `NoRoute` when no path can absorb the trade whole.
pub fn best_single(market: &Market, from: TokenId, to: TokenId, amount: Amount) -> Result<(Vec<usize>, Amount), RouterError> {
    let mut best: Option<(Vec<usize>, Amount)> = None;
    for path in candidate_paths(market, from, to)? {
        for choice in single_choices(&path.hops) {
            let mut input = amount;
            let mut ok = true;
            for (k, &v) in choice.iter().enumerate() {
                match market.venues[v].quote(path.tokens[k], path.tokens[k + 1], input) {
                    Ok(out) if out.0 > 0 => input = out,
                    _ => ok = false,
                }
                if !ok {
                    break;
                }
            }
            if ok && best.as_ref().is_none_or(|(_, b)| input > *b) {
                best = Some((choice, input));
            }
        }
    }
    let name = |t| market.token_info(t).map(|x| x.symbol.clone()).unwrap_or_default();
    best.ok_or(RouterError::NoRoute { from: name(from), to: name(to) })
}

/// Every way to pick one venue per hop.
fn single_choices(hops: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new()];
    for hop in hops {
        out = out.iter().flat_map(|prefix| hop.iter().map(move |&v| [prefix.clone(), vec![v]].concat())).collect();
    }
    out
}

/// Output of the naive equal split: on the best candidate's hops, each hop's input divided equally
/// among its venues (the remainder to the first).
///
/// # Errors
/// `InsufficientLiquidity` or venue errors if a venue cannot take its share.
pub fn equal_split(market: &Market, from: TokenId, to: TokenId, amount: Amount) -> Result<Amount, RouterError> {
    let paths = candidate_paths(market, from, to)?;
    let mut best: Option<Amount> = None;
    for path in &paths {
        let mut input = amount.0;
        for (k, venues) in path.hops.iter().enumerate() {
            let n = venues.len() as i128;
            let mut out = 0;
            for (j, &v) in venues.iter().enumerate() {
                let share = input / n + if j == 0 { input % n } else { 0 };
                if share > 0 {
                    out += market.venues[v].quote(path.tokens[k], path.tokens[k + 1], Amount(share))?.0;
                }
            }
            input = out;
        }
        if best.is_none_or(|b| input > b.0) {
            best = Some(Amount(input));
        }
    }
    let name = |t| market.token_info(t).map(|x| x.symbol.clone()).unwrap_or_default();
    best.ok_or(RouterError::NoRoute { from: name(from), to: name(to) })
}

/// Apply a plan to the market's venues (hop by hop); every execution must return the plan's quote.
///
/// # Errors
/// A venue error; the market may then be partly changed, so callers execute on a clone.
pub fn execute(market: &mut Market, plan: &RoutePlan) -> Result<Amount, RouterError> {
    let mut total = 0i128;
    for candidate in &plan.candidates {
        for hop in &candidate.hops {
            for a in &hop.allocations {
                let out = market.venues[a.venue].execute(hop.from, hop.to, a.amount_in)?;
                assert_eq!(out, a.amount_out, "execution must pay exactly the quote");
            }
        }
        total += candidate.amount_out();
    }
    Ok(Amount(total))
}
