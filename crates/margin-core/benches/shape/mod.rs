//! The synthetic model shaped like the configuration's (6,633 columns = 6,570 FHS + 63 floor, 77
//! instruments, 13 protocols, a 316-point liquidity grid) and random accounts over it, shared by
//! the bench and the `pre_trade_latency` example.

#![allow(dead_code)]

use margin_core::{AccountRisk, ChargeTables, InstrumentArray, InstrumentCharges, Position, ProtocolArray, RiskModel, Scaling, Underlying};
use money::UsdPrice;

pub const FHS: u32 = 6_570;
pub const FLOOR: usize = 63;
pub const INSTRUMENTS: usize = 77;
pub const PROTOCOLS: usize = 13;
pub const FROZEN: bool = true;

pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    /// Roughly normal, mean 0, standard deviation `sd` (sum of 4 uniforms).
    pub fn normal(&mut self, sd: f64) -> i64 {
        let u: f64 = (0..4).map(|_| self.next() as f64 / (1u64 << 31) as f64).sum::<f64>() - 2.0;
        (u * sd * 1.7) as i64
    }
}

pub fn model() -> RiskModel {
    let mut rng = Lcg(7);
    let columns = FHS as usize + FLOOR;
    let grid: Vec<i128> = std::iter::once(0).chain((0..315).map(|k| (1e6 * 1.1f64.powi(k)) as i128)).collect();
    let instruments: Vec<InstrumentArray> = (0..INSTRUMENTS)
        .map(|i| InstrumentArray {
            id: format!("I{i:03}"),
            decimals: 9,
            scaling: if i % 3 == 0 { Scaling::Fixed } else { Scaling::Linear { underlying: (i % 4) as u16 } },
            // Per unit: a 3 000 USD asset moving ~5% a day, in micro-USD.
            pnl: (0..columns).map(|_| rng.normal(150e6)).collect(),
        })
        .collect();
    let charges = (0..INSTRUMENTS)
        .map(|i| InstrumentCharges {
            value_musd: 3_000_000_000,
            notional_musd: 3_000_000_000,
            // One in three is a balance on a venue (claim fraction 1: frozen when it fails), the
            // rest are partial claims, as in the configuration's model.
            links: vec![((i % PROTOCOLS) as u16, if i % 3 == 0 { 1_000_000 } else { 300_000 }), (((i + 5) % PROTOCOLS) as u16, 300_000)],
            collapse: None,
            collapse_loss_ppm: 0,
            liquidity_cost_musd: grid.iter().map(|g| g / 10_000 + g * g / 200_000_000_000_000).collect(),
        })
        .collect();
    let protocols = (0..PROTOCOLS)
        .map(|j| ProtocolArray {
            name: format!("P{j}"),
            pd_ppb: 100_000,
            lgd_ppm: 600_000,
            frozen: (0..INSTRUMENTS as u32).filter(|i| *i as usize % PROTOCOLS == j && i % 3 == 0 && FROZEN).collect(),
        })
        .collect();
    let m = RiskModel {
        label: "bench".into(),
        as_of_ms: 0,
        fhs_scenarios: FHS,
        floor_weights_ppm: vec![1_000_000; FLOOR],
        tail_ppm: 10_000,
        maintenance_ppm: 750_000,
        underlyings: (0..4).map(|u| Underlying { name: format!("U{u}"), ref_price: price(3000) }).collect(),
        instruments,
        charges: ChargeTables { protocols, concentration_scale_musd_e3: 1_000_000_000, liquidity_grid_musd: grid, instruments: charges },
    };
    m.validate().expect("bench model is valid");
    m
}

pub fn price(usd: i128) -> UsdPrice {
    UsdPrice(usd * 10i128.pow(18))
}

/// An account of `n` positions on distinct instruments, 1 to 100 units each, both signs.
pub fn account(m: &RiskModel, n: usize, seed: u64, prices: &[Option<UsdPrice>]) -> (Vec<Position>, AccountRisk) {
    let mut rng = Lcg(seed);
    let positions: Vec<Position> = (0..n)
        .map(|k| {
            let ix = margin_core::InstrumentIx(((k * 7 + seed as usize) % INSTRUMENTS) as u32);
            let qty = (1 + rng.next() % 100) as i128 * 1_000_000_000 * if rng.next().is_multiple_of(2) { 1 } else { -1 };
            Position { instrument: ix, qty }
        })
        .collect();
    let risk = m.account(&positions, prices).expect("account");
    (positions, risk)
}
