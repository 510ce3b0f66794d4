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

/// The replay's default: four hours (a bridge or a withdrawal queue plus confirmations), a 20%
/// buffer above the venue's maintenance, a 10% adverse move over the latency.
pub const DEFAULT_PARAMS: VenueParams =
    VenueParams { latency_hours: 4, top_up: TopUpParams { buffer_ppm: 200_000, adverse_move_ppm: 100_000 } };

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
        self.collateral += arrived.iter().map(|(_, a)| a).sum::<i128>();
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
}

impl Venues {
    pub fn new(underlyings: &[&str], params: VenueParams) -> Venues {
        let legs = underlyings.iter().flat_map(|u| VENUES.iter().map(move |v| Leg::new(*v, u))).collect();
        Venues { legs, params }
    }

    /// One hour: `hedge(underlying)` is the house's hedge target (the opposite of its net
    /// position, quantity units), `price(underlying)` the venue's price (USDC units).
    pub fn step(&mut self, hour: i64, hedge: &dyn Fn(&str) -> Result<i128>, price: &dyn Fn(&str) -> Result<i128>) -> Result<()> {
        for leg in &mut self.legs {
            let total = hedge(&leg.underlying)?;
            let target = mul_div(total, i128::from(leg.spec.share_ppm), 1_000_000, Rounding::Floor)
                .with_context(|| format!("the {} share of the hedge", leg.spec.name))?;
            leg.step(hour, price(&leg.underlying)?, target, &self.params)?;
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
}
