//! The house's hedge legs on external venues in the crisis replay (issue 10, item 6;
//! `docs/crisis-replay.md`, "The house's hedge legs on venues").
//!
//! The house hedges its net position per underlying (its exposure from the quote plus any perp
//! it took over) on two venues, half each: a dYdX-like perp venue and an Aave-like lending venue
//! (a long is ETH bought with borrowed USDC and posted; a short is ETH borrowed and sold, the
//! proceeds posted). Each leg is held in a [`VenueState`] under the venue's own
//! [`VenueRules`], every hour at the venue's price:
//!
//! 1. collateral sent `latency_hours` ago arrives;
//! 2. the venue's own test ([`VenueState::is_liquidated`], arrived collateral only): a
//!    liquidated leg is closed at the price, the venue keeps its penalty (of the notional on the
//!    perp venue, of the debt on the lending venue), what is left stays posted, and the hedge
//!    is lost: the house's exposure is open again until fresh collateral has arrived;
//! 3. the leg is (re)opened or resized to its target, the P&L of a resize realised into the
//!    collateral;
//! 4. the top-up: [`VenueState::requirement`] on the collateral posted *and in flight* (so one
//!    shortfall is sent once), sent now, arriving after the latency.
//!
//! Collateral for a leg opened at hour 0 is posted before the window (it arrives at once).
//! Amounts are USDC units (10^-6), quantities 10^-18 of the underlying, prices USDC units per
//! whole underlying: exact integers throughout.

use anyhow::{Context, Result, bail};
use liquidation::venues::{TopUpParams, VenueRules, VenueState};
use money::{Rounding, mul_div};

/// Quantity units per whole underlying.
pub const QTY_ONE: i128 = 1_000_000_000_000_000_000;

/// A venue's rules, its liquidation penalty and its share of the hedge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueSpec {
    pub name: &'static str,
    pub rules: VenueRules,
    /// Kept by the venue when it liquidates: of the notional (perp) or the debt (lending).
    pub penalty_bps: u32,
    pub share_ppm: u32,
}

/// dYdX v3's ETH-USD market (IMF 5%, MMF 3%, a liquidation fee up to 1% of the notional) and
/// Aave v2's ETH (LTV 80%, liquidation bonus 5%), half the hedge each.
pub const VENUES: [VenueSpec; 2] = [
    VenueSpec {
        name: "dydx",
        rules: VenueRules::Perp { initial_ppm: 50_000, maintenance_ppm: 30_000 },
        penalty_bps: 100,
        share_ppm: 500_000,
    },
    VenueSpec { name: "aave", rules: VenueRules::Lending { ltv_ppm: 800_000 }, penalty_bps: 500, share_ppm: 500_000 },
];

/// How collateral moves to the venues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueParams {
    /// Hours between sending collateral and its arrival at the venue.
    pub latency_hours: i64,
    pub top_up: TopUpParams,
}

/// The replay's default: four hours (a bridge or a withdrawal queue plus confirmations) and a
/// 20% buffer above the venue's maintenance. The adverse move over the latency is not a
/// constant: [`Venues::set_moves`] sets it per underlying and direction from the risk model in
/// force ([`adverse_moves`]); the 0 here is never used by [`Venues::step`].
pub const DEFAULT_PARAMS: VenueParams = VenueParams { latency_hours: 4, top_up: TopUpParams { buffer_ppm: 200_000, adverse_move_ppm: 0 } };

/// The adverse move of a leg's underlying over the latency (ppm of the price, rounded up): a
/// rise hurts a short leg, a fall a long one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdverseMoves {
    pub up_ppm: u32,
    pub down_ppm: u32,
}

impl AdverseMoves {
    /// The move against a leg of sign `direction` (long positive).
    pub fn against(&self, direction: i128) -> u32 {
        if direction > 0 { self.down_ppm } else { self.up_ppm }
    }
}

/// The instrument whose scenario P&L gives an underlying's scan range: the broker's own perp on
/// it (a delta-one array that no peg or wrapper moves; present in every replay model, which
/// takes the broker's own venue as live).
fn scan_instrument(underlying: &str) -> String {
    format!("{underlying}-PERP@clearhouse")
}

/// The scan range of `underlying` in `model`, as log moves (up, down) over the model's margin
/// period of risk: the largest loss of one unit held short (up) and long (down) over the
/// full-weight floor columns (the price scan at its full range, `docs/margin-methodology.md`
/// 4.5), as a fraction of the reference price.
pub fn scan_range(model: &margin_core::RiskModel, underlying: &str) -> Result<(f64, f64)> {
    let u = model.underlyings.iter().position(|x| x.name == underlying).with_context(|| format!("the model has no {underlying}"))?;
    let id = scan_instrument(underlying);
    let a = model.instruments.iter().find(|i| i.id == id).with_context(|| format!("the model has no {id}"))?;
    if a.scaling != (margin_core::Scaling::Linear { underlying: u16::try_from(u)? }) {
        bail!("{id} is not delta-one on {underlying} in the model");
    }
    let full = (0..model.floor_weights_ppm.len()).filter(|j| model.floor_weights_ppm[*j] == 1_000_000);
    let columns: Vec<f64> = full.map(|j| a.pnl[model.fhs_scenarios as usize + j] as f64).collect();
    // f64 risk math (docs/crisis-replay.md): micro-USD per unit over the reference price.
    let reference = model.underlyings[u].ref_price.0 as f64 / 1e18 * 1e6;
    let rise = columns.iter().copied().fold(0.0, f64::max) / reference;
    let fall = columns.iter().map(|x| -x).fold(0.0, f64::max) / reference;
    if columns.is_empty() || reference <= 0.0 || fall >= 1.0 {
        bail!("the model gives no usable scan range of {underlying} (columns {}, fall {fall})", columns.len());
    }
    Ok(((1.0 + rise).ln(), -(1.0 - fall).ln()))
}

/// The delta of one unit of `instrument` in whole units of `underlying`: the minimum-variance
/// hedge ratio over the model's FHS columns, `sum(o_j l_j) / sum(l_j^2)`, with `o` the
/// instrument's P&L per unit and `l` that of one unit of the underlying's delta-one array (full
/// revaluation in each scenario, so the ratio is the option's effective delta over the margin
/// period).
pub fn hedge_ratio(model: &margin_core::RiskModel, instrument: &str, underlying: &str) -> Result<f64> {
    let find = |id: &str| model.instruments.iter().find(|i| i.id == id).with_context(|| format!("the model has no {id}"));
    let (o, l) = (find(instrument)?, find(&scan_instrument(underlying))?);
    let n = model.fhs_scenarios as usize;
    let (mut ol, mut ll) = (0.0, 0.0);
    for j in 0..n {
        let (x, y) = (o.pnl[j] as f64, l.pnl[j] as f64);
        ol += x * y;
        ll += y * y;
    }
    if n == 0 || ll <= 0.0 {
        bail!("the model has no FHS moves of {underlying} to hedge {instrument} against");
    }
    Ok(ol / ll)
}

/// The adverse moves of `underlying` over `latency_hours`: the model's scan range over its
/// `mpor_hours` scaled by the square root of time, `r_L = r x sqrt(L / mpor)`, as price moves
/// `e^(r_L) - 1` (up) and `1 - e^(-r_L)` (down), rounded up to ppm. A move of 100% or more
/// cannot be sized by the venue model and is an error.
pub fn adverse_moves(model: &margin_core::RiskModel, underlying: &str, mpor_hours: i64, latency_hours: i64) -> Result<AdverseMoves> {
    if mpor_hours <= 0 || latency_hours < 0 {
        bail!("the margin period ({mpor_hours} h) must be positive and the latency ({latency_hours} h) not negative");
    }
    let (up, down) = scan_range(model, underlying)?;
    let time = (latency_hours as f64 / mpor_hours as f64).sqrt();
    // A price can more than double, not fall by all of itself: a rise is bounded by u32's ppm, a
    // fall must stay below 100% (the lending venue's formula divides by what is left).
    let ppm = |fraction: f64, below: f64| -> Result<u32> {
        // Up to the next ppm, after dropping the last float's noise (10^-6 ppm).
        let x = (fraction * 1e6 - 1e-6).ceil();
        if !(0.0..below).contains(&x) {
            bail!(
                "the adverse move of {underlying} over {latency_hours} h is {:.1}%: the venue model needs less than {}%",
                fraction * 100.0,
                below / 1e4
            );
        }
        Ok(x as u32)
    };
    Ok(AdverseMoves { up_ppm: ppm((up * time).exp_m1(), f64::from(u32::MAX))?, down_ppm: ppm(-(-down * time).exp_m1(), 1e6)? })
}

/// A venue liquidation of a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueLiquidation {
    pub hour: i64,
    pub venue: &'static str,
    pub underlying: String,
    pub qty: i128,
    pub price: i128,
    /// Equity before (collateral plus P&L), the penalty the venue kept, what stayed posted.
    pub equity: i128,
    pub penalty: i128,
    pub left: i128,
}

/// One leg: the house's position on one venue in one underlying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    pub spec: VenueSpec,
    pub underlying: String,
    /// Signed quantity (long positive) and its entry price.
    pub qty: i128,
    pub entry: i128,
    /// Collateral arrived at the venue.
    pub collateral: i128,
    /// (arrival hour, amount) sent and not yet arrived.
    pub in_flight: Vec<(i64, i128)>,
    pub top_ups: u32,
    /// Everything sent, opening postings included.
    pub sent: i128,
    pub top_up_sent: i128,
    pub hours_unhedged: u32,
    pub liquidations: Vec<VenueLiquidation>,
    /// Collateral arrived since the driver last booked it on the ledger ([`Leg::take_arrived`]).
    pub arrived: i128,
}

fn value(qty: i128, price: i128, rounding: Rounding) -> Result<i128> {
    Ok(mul_div(qty, price, QTY_ONE, rounding)?)
}

impl Leg {
    pub fn new(spec: VenueSpec, underlying: &str) -> Leg {
        Leg {
            spec,
            underlying: underlying.into(),
            qty: 0,
            entry: 0,
            collateral: 0,
            in_flight: Vec::new(),
            top_ups: 0,
            sent: 0,
            top_up_sent: 0,
            hours_unhedged: 0,
            liquidations: Vec::new(),
            arrived: 0,
        }
    }

    /// Collateral plus the position's P&L at `price`.
    pub fn equity(&self, price: i128) -> Result<i128> {
        Ok(self.collateral + value(self.qty, price - self.entry, Rounding::Floor)?)
    }

    /// The leg as the venue sees it at `price`, with `collateral` posted.
    pub fn state(&self, price: i128, collateral: i128) -> Result<VenueState> {
        let pnl = value(self.qty, price - self.entry, Rounding::Floor)?;
        Ok(match self.spec.rules {
            VenueRules::Perp { .. } => {
                VenueState { rules: self.spec.rules, collateral, exposure: value(self.qty, price, Rounding::Ceil)?, unrealised_pnl: pnl }
            }
            // Long: the underlying bought with borrowed USDC is posted; short: the underlying is
            // borrowed, sold, and the proceeds posted. Either way equity = collateral + P&L.
            VenueRules::Lending { .. } => {
                let (posted, debt) = if self.qty >= 0 {
                    (value(self.qty, price, Rounding::Floor)?, value(self.qty, self.entry, Rounding::Ceil)?)
                } else {
                    (value(-self.qty, self.entry, Rounding::Floor)?, value(-self.qty, price, Rounding::Ceil)?)
                };
                VenueState { rules: self.spec.rules, collateral: collateral + posted, exposure: debt, unrealised_pnl: 0 }
            }
        })
    }

    fn in_flight_total(&self) -> i128 {
        self.in_flight.iter().map(|(_, a)| a).sum()
    }

    fn send(&mut self, hour: i64, amount: i128, p: &VenueParams) {
        assert!(amount > 0, "collateral sent is positive");
        let arrives = if hour == 0 { 0 } else { hour + p.latency_hours };
        self.in_flight.push((arrives, amount));
        self.sent += amount;
    }

    fn arrive(&mut self, hour: i64) {
        let (arrived, later): (Vec<_>, Vec<_>) = self.in_flight.iter().partition(|(at, _)| *at <= hour);
        let amount = arrived.iter().map(|(_, a)| a).sum::<i128>();
        self.collateral += amount;
        self.arrived += amount;
        self.in_flight = later;
    }

    /// The venue's own test at `price`; a liquidated leg is closed and the penalty kept.
    fn check(&mut self, hour: i64, price: i128) -> Result<()> {
        if self.qty == 0 || !self.state(price, self.collateral)?.is_liquidated()? {
            return Ok(());
        }
        let base = match self.spec.rules {
            VenueRules::Perp { .. } => value(self.qty.abs(), price, Rounding::Ceil)?,
            VenueRules::Lending { .. } => self.state(price, self.collateral)?.exposure,
        };
        let penalty = mul_div(base, i128::from(self.spec.penalty_bps), 10_000, Rounding::Ceil)?;
        let equity = self.equity(price)?;
        let left = (equity - penalty).max(0);
        self.liquidations.push(VenueLiquidation {
            hour,
            venue: self.spec.name,
            underlying: self.underlying.clone(),
            qty: self.qty,
            price,
            equity,
            penalty,
            left,
        });
        (self.qty, self.entry, self.collateral) = (0, 0, left);
        Ok(())
    }

    /// Opens or resizes the leg to `target` at `price` when the collateral allows it.
    fn resize(&mut self, hour: i64, price: i128, target: i128, p: &VenueParams) -> Result<()> {
        if target == self.qty {
            return Ok(());
        }
        let realised = self.equity(price)?;
        let next = Leg { qty: target, entry: price, collateral: realised, ..self.clone() };
        let needed = next.state(price, realised)?.requirement(&p.top_up)?.top_up;
        if needed == 0 || target == 0 || self.qty != 0 {
            // A resize of an open leg goes ahead and is topped up below like any leg.
            (self.qty, self.entry, self.collateral) = (target, price, realised);
        } else if self.in_flight.is_empty() {
            self.send(hour, needed, p);
            self.arrive(hour);
            if hour == 0 {
                (self.qty, self.entry) = (target, price);
            }
        }
        Ok(())
    }

    fn top_up(&mut self, hour: i64, price: i128, p: &VenueParams) -> Result<()> {
        if self.qty == 0 {
            return Ok(());
        }
        let pending = self.collateral + self.in_flight_total();
        let needed = self.state(price, pending)?.requirement(&p.top_up)?.top_up;
        if needed > 0 {
            self.send(hour, needed, p);
            self.top_ups += 1;
            self.top_up_sent += needed;
            self.arrive(hour);
        }
        Ok(())
    }

    /// The collateral arrived since the last call (to be booked as `venue_fund`).
    pub fn take_arrived(&mut self) -> i128 {
        std::mem::take(&mut self.arrived)
    }

    /// One hour of the leg at the venue's `price`, hedging towards `target`.
    pub fn step(&mut self, hour: i64, price: i128, target: i128, p: &VenueParams) -> Result<()> {
        if price <= 0 {
            bail!("venue {}: a non-positive price of {}", self.spec.name, self.underlying);
        }
        self.arrive(hour);
        self.check(hour, price)?;
        self.resize(hour, price, target, p)?;
        self.top_up(hour, price, p)?;
        if target != 0 && self.qty == 0 {
            self.hours_unhedged += 1;
        }
        assert!(self.collateral >= 0, "a venue leg's posted collateral is never negative");
        Ok(())
    }
}

/// Every leg of the house: one per venue and hedged underlying.
pub struct Venues {
    pub legs: Vec<Leg>,
    pub params: VenueParams,
    /// Per underlying, the adverse moves over the latency from the model in force.
    pub moves: std::collections::BTreeMap<String, AdverseMoves>,
}

/// The replay's step: venues are checked, resized and topped up once an hour.
const STEP_HOURS: i64 = 1;

impl Venues {
    pub fn new(underlyings: &[&str], params: VenueParams) -> Venues {
        let legs = underlyings.iter().flat_map(|u| VENUES.iter().map(move |v| Leg::new(*v, u))).collect();
        Venues { legs, params, moves: Default::default() }
    }

    /// The adverse moves of every hedged underlying from `model` (a model over `mpor_hours`), over
    /// the latency but never less than the replay's step: collateral that arrives at once must
    /// still carry the leg to the next hour's check.
    pub fn set_moves(&mut self, model: &margin_core::RiskModel, mpor_hours: i64) -> Result<()> {
        let horizon = self.params.latency_hours.max(STEP_HOURS);
        for leg in &self.legs {
            let m = adverse_moves(model, &leg.underlying, mpor_hours, horizon)?;
            self.moves.insert(leg.underlying.clone(), m);
        }
        Ok(())
    }

    /// One hour: `hedge(underlying)` is the house's hedge target (the opposite of its net
    /// position, quantity units), `price(underlying)` the venue's price (USDC units).
    pub fn step(&mut self, hour: i64, hedge: &dyn Fn(&str) -> Result<i128>, price: &dyn Fn(&str) -> Result<i128>) -> Result<()> {
        for leg in &mut self.legs {
            let total = hedge(&leg.underlying)?;
            let target = mul_div(total, i128::from(leg.spec.share_ppm), 1_000_000, Rounding::Floor)
                .with_context(|| format!("the {} share of the hedge", leg.spec.name))?;
            let moves = self.moves.get(&leg.underlying).with_context(|| format!("no adverse move of {} set", leg.underlying))?;
            let direction = if target != 0 { target } else { leg.qty };
            let top_up = TopUpParams { adverse_move_ppm: moves.against(direction), ..self.params.top_up };
            leg.step(hour, price(&leg.underlying)?, target, &VenueParams { top_up, ..self.params })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETH: i128 = QTY_ONE;
    const USDC: i128 = 1_000_000;

    fn run(leg: &mut Leg, prices: &[i128], target: i128, p: &VenueParams) {
        for (h, price) in prices.iter().enumerate() {
            leg.step(h as i64, price * USDC, target, p).unwrap();
        }
    }

    /// A long hedge of 10 ETH on the perp venue at 200, ETH falling 200, 190, 170, 150.
    /// Opening (hour 0, arrives at once): notional 2,000; after a 10% move the loss is 200, the
    /// notional 2,200, MM 66, x 1.2 = 79.2: 279.2 posted. Hour 1 (190): equity 179.2, MM 57;
    /// pending 279.2 - 100 = 179.2 against 1.2 x 0.03 x 2,090 + 190 = 265.24: 86.04 sent.
    /// Hour 2 (170): equity 279.2 - 300 = -20.8 with only the opening posted (86.04 still
    /// in flight) when the latency is 4 hours: below MM 51, the venue liquidates, keeps 1% of
    /// 1,700 = 17 and leaves nothing. With a latency of 1 hour the 86.04 has arrived: equity
    /// 65.24 >= 51, no liquidation.
    #[test]
    fn a_hedge_leg_is_liquidated_by_its_venue_when_the_top_up_arrives_too_late() {
        let top_up = TopUpParams { buffer_ppm: 200_000, adverse_move_ppm: 100_000 };
        let slow = VenueParams { latency_hours: 4, top_up };
        let mut leg = Leg::new(VENUES[0], "ETH");
        run(&mut leg, &[200, 190, 170], 10 * ETH, &slow);
        assert_eq!(leg.sent, 279_200_000 + 86_040_000);
        assert_eq!((leg.top_ups, leg.top_up_sent), (1, 86_040_000));
        assert_eq!(
            leg.liquidations,
            vec![VenueLiquidation {
                hour: 2,
                venue: "dydx",
                underlying: "ETH".into(),
                qty: 10 * ETH,
                price: 170 * USDC,
                equity: -20_800_000,
                penalty: 17 * USDC,
                left: 0,
            }]
        );
        assert_eq!((leg.qty, leg.collateral), (0, 0), "the hedge is lost");
        assert_eq!(leg.hours_unhedged, 1, "unhedged from the liquidation on");
        // The 86.04 arrives at hour 5, short of a reopening at 160 (notional 1,600, after the
        // move 1,760: 1.2 x 52.8 + 160 = 223.36): the 137.32 missing is sent, due at hour 9.
        for h in 3..=5 {
            leg.step(h, 160 * USDC, 10 * ETH, &slow).unwrap();
        }
        assert_eq!((leg.qty, leg.collateral, leg.hours_unhedged), (0, 86_040_000, 4));
        assert_eq!(leg.in_flight, vec![(9, 137_320_000)]);

        let fast = VenueParams { latency_hours: 1, ..slow };
        let mut leg = Leg::new(VENUES[0], "ETH");
        run(&mut leg, &[200, 190, 170], 10 * ETH, &fast);
        assert!(leg.liquidations.is_empty(), "the top-up arrived in time");
        assert_eq!(leg.equity(170 * USDC).unwrap(), 65_240_000);
    }

    /// A long hedge of 10 ETH on the lending venue (LTV 80%) at 200: ETH bought with 2,000
    /// borrowed USDC and posted. Opening: power 0.8 x 2,000 = 1,600 against a debt of 2,000,
    /// after a 10% fall 1,440 of power against 1.2 x 2,000 = 2,400: 960 of power missing, i.e.
    /// 960 / (0.8 x 0.9) = 1,333.333334 USDC posted. At 150 with nothing more arrived: power
    /// 0.8 x (1,333.333334 + 1,500) = 2,266.666667 >= 2,000: safe; at 140: 2,186.67 >= 2,000
    /// still; at 100: 1,866.67 < 2,000: liquidated, 5% of the debt (100) kept, equity
    /// 1,333.333334 - 1,000 = 333.333334, 233.333334 left.
    #[test]
    fn a_lending_leg_is_liquidated_below_its_ltv() {
        let p = VenueParams { latency_hours: 100, top_up: TopUpParams { buffer_ppm: 200_000, adverse_move_ppm: 100_000 } };
        let mut leg = Leg::new(VENUES[1], "ETH");
        run(&mut leg, &[200], 10 * ETH, &p);
        assert_eq!((leg.collateral, leg.qty), (1_333_333_334, 10 * ETH));
        leg.step(1, 150 * USDC, 10 * ETH, &p).unwrap();
        leg.step(2, 140 * USDC, 10 * ETH, &p).unwrap();
        assert!(leg.liquidations.is_empty());
        leg.step(3, 100 * USDC, 10 * ETH, &p).unwrap();
        let l = &leg.liquidations[0];
        assert_eq!((l.hour, l.equity, l.penalty, l.left), (3, 333_333_334, 100 * USDC, 233_333_334));
        assert_eq!(leg.collateral, 233_333_334, "what is left stays posted");
    }

    /// A model of ETH at 2,000 with two FHS columns and three floor columns: +400 (+20%) and
    /// -300 (-15%) at full weight, -1,000 at weight 0.3 (the extreme move, not a scan). The
    /// ranges are ln 1.2 up and -ln 0.85 down over the 24-hour period; over 6 hours the square
    /// root of time halves them: e^(ln 1.2 / 2) - 1 = sqrt(1.2) - 1 = 9.5445% -> 95,446 ppm, and
    /// 1 - sqrt(0.85) = 7.8046% -> 78,046 ppm (rounded up). A long leg is sized on the fall, a
    /// short one on the rise.
    #[test]
    fn the_adverse_move_is_the_models_scan_range_at_the_latency() {
        let model = margin_core::RiskModel {
            label: "hand".into(),
            as_of_ms: 0,
            fhs_scenarios: 2,
            floor_weights_ppm: vec![1_000_000, 1_000_000, 300_000],
            tail_ppm: 500_000,
            maintenance_ppm: 500_000,
            underlyings: vec![margin_core::Underlying { name: "ETH".into(), ref_price: money::UsdPrice::parse("2000").unwrap() }],
            instruments: vec![margin_core::InstrumentArray {
                id: "ETH-PERP@clearhouse".into(),
                decimals: 9,
                scaling: margin_core::Scaling::Linear { underlying: 0 },
                pnl: vec![900_000_000, -900_000_000, 400_000_000, -300_000_000, -1_000_000_000],
            }],
            charges: Default::default(),
        };
        let m = adverse_moves(&model, "ETH", 24, 6).unwrap();
        assert_eq!(m, AdverseMoves { up_ppm: 95_446, down_ppm: 78_046 });
        assert_eq!((m.against(ETH), m.against(-ETH)), (78_046, 95_446));
        let day = adverse_moves(&model, "ETH", 24, 24).unwrap();
        assert_eq!(day, AdverseMoves { up_ppm: 200_000, down_ppm: 150_000 });
        assert_eq!(adverse_moves(&model, "ETH", 24, 0).unwrap(), AdverseMoves { up_ppm: 0, down_ppm: 0 });
        assert!(adverse_moves(&model, "BTC", 24, 6).is_err(), "no BTC in the model: an error, not a default");
        // Over 4 days the rise is e^(2 ln 1.2) - 1 = 44%, the fall 1 - 0.85^2 = 27.75%.
        assert_eq!(adverse_moves(&model, "ETH", 24, 96).unwrap(), AdverseMoves { up_ppm: 440_000, down_ppm: 277_500 });
        // Over 100 days the rise is e^(ln 1.2 x sqrt 100) - 1 = 1.2^10 - 1 = 519.2%: allowed (a
        // price can more than double); the fall 1 - 0.85^10 = 80.3% stays below 100%.
        assert_eq!(adverse_moves(&model, "ETH", 24, 2400).unwrap(), AdverseMoves { up_ppm: 5_191_737, down_ppm: 803_126 });
        // Collateral that arrives at once still waits for the next hourly check: the venues size
        // a zero latency over one hour, ln 1.2 x sqrt(1/24) up.
        let mut venues = Venues::new(&["ETH"], VenueParams { latency_hours: 0, ..DEFAULT_PARAMS });
        venues.set_moves(&model, 24).unwrap();
        assert_eq!(venues.moves["ETH"], AdverseMoves { up_ppm: 37_918, down_ppm: 32_630 });
    }

    /// Two FHS columns: ETH +100 and -100 per unit; the call +60 and -40: the ratio is
    /// (60 x 100 + 40 x 100) / (2 x 100^2) = 0.5. No FHS column: an error.
    #[test]
    fn an_option_is_hedged_at_its_minimum_variance_ratio() {
        let array = |id: &str, scaling, pnl: Vec<i64>| margin_core::InstrumentArray { id: id.into(), decimals: 9, scaling, pnl };
        let mut model = margin_core::RiskModel {
            label: "hand".into(),
            as_of_ms: 0,
            fhs_scenarios: 2,
            floor_weights_ppm: vec![1_000_000],
            tail_ppm: 500_000,
            maintenance_ppm: 500_000,
            underlyings: vec![margin_core::Underlying { name: "ETH".into(), ref_price: money::UsdPrice::parse("2000").unwrap() }],
            instruments: vec![
                array("C@clearhouse", margin_core::Scaling::Fixed, vec![60_000_000, -40_000_000, -90_000_000]),
                array("ETH-PERP@clearhouse", margin_core::Scaling::Linear { underlying: 0 }, vec![100_000_000, -100_000_000, 500_000_000]),
            ],
            charges: Default::default(),
        };
        assert_eq!(hedge_ratio(&model, "C@clearhouse", "ETH").unwrap(), 0.5);
        assert!(hedge_ratio(&model, "P@clearhouse", "ETH").is_err());
        model.fhs_scenarios = 0;
        assert!(hedge_ratio(&model, "C@clearhouse", "ETH").is_err());
    }
}
