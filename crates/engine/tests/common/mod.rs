//! The liquidation world shared by the engine's integration tests: the hand-made model, the
//! liquidation parameters and a `World` of four owners (see `tests/liquidation.rs`).
#![allow(dead_code)]

use engine::markets::{OrderKind, OrderSide};
use engine::*;
use margin_core::{InstrumentArray, RiskModel, Scaling, Underlying};
use model::{Config, LastResort, LiquidationConfig, Role};

pub const START: u64 = 1_000_000;

pub fn model() -> RiskModel {
    let linear = |id: &str, decimals: u8| InstrumentArray {
        id: id.into(),
        decimals,
        scaling: Scaling::Linear { underlying: 0 },
        pnl: vec![-300_000_000, 300_000_000, 0, 0],
    };
    RiskModel {
        label: "hand-made".into(),
        as_of_ms: 0,
        fhs_scenarios: 4,
        floor_weights_ppm: vec![],
        tail_ppm: 250_000,
        maintenance_ppm: 500_000,
        underlyings: vec![Underlying { name: "ETH".into(), ref_price: money::UsdPrice::parse("3000").unwrap() }],
        instruments: vec![
            linear("ETH", 18),
            linear("ETH-PERP@clearhouse", 9),
            InstrumentArray { id: "USDC".into(), decimals: 6, scaling: Scaling::Fixed, pnl: vec![0; 4] },
        ],
        charges: Default::default(),
    }
}

/// The hand model with a close-out cost for the perp (0, 10, 40, 160 USD at 0, 1,000, 2,000,
/// 4,000 USD of notional; one ETH-PERP is 3,000 USD of notional).
pub fn model_with_perp_liquidity() -> RiskModel {
    let micro = |x: i128| x * 1_000_000;
    let mut m = model();
    let plain = margin_core::InstrumentCharges { value_musd: 3_000_000_000, notional_musd: 3_000_000_000, ..Default::default() };
    m.charges = margin_core::ChargeTables {
        liquidity_grid_musd: vec![0, micro(1000), micro(2000), micro(4000)],
        instruments: vec![
            plain.clone(),
            margin_core::InstrumentCharges { value_musd: 0, liquidity_cost_musd: vec![0, micro(10), micro(40), micro(160)], ..plain },
            margin_core::InstrumentCharges { value_musd: 1_000_000, notional_musd: 1_000_000, ..Default::default() },
        ],
        ..Default::default()
    };
    m
}

pub fn liquidation_config(last_resort: LastResort) -> LiquidationConfig {
    LiquidationConfig {
        target_ppm: 1_000_000,
        step_ppm: 250_000,
        throttle_ppm: 1_000_000,
        start_discount_bps: 50,
        growth_bps_per_s: 10,
        cap_bps: 100,
        duration_ms: 60_000,
        penalty_bps: 50,
        insurance_ppm: 500_000,
        accounts_per_command_max: 8,
        last_resort,
        insurance_fee_ppm: None,
    }
}

pub struct World {
    pub engine: Engine,
    pub id: u64,
}

impl World {
    pub fn new(liquidation: LiquidationConfig) -> World {
        World::configured(liquidation, |_| ())
    }

    /// The world on the default configuration as `edit` leaves it.
    pub fn configured(liquidation: LiquidationConfig, edit: impl FnOnce(&mut StateConfig)) -> World {
        let mut config = StateConfig::from_model(&Config::default_config());
        config.settings.risk_model_max_age_ms = Some(400_000_000);
        config.liquidation = Some(liquidation);
        edit(&mut config);
        let mut w = World { engine: Engine::with_genesis(config).unwrap(), id: 100 };
        w.op(Command::AdvanceTime { now_ms: START });
        for owner in ["alice", "bob", "carol", "dave"] {
            w.op(Command::RegisterPrincipal { name: owner.into(), role: Role::Owner });
            w.op(Command::CreateAccount { owner: owner.into(), sub: "main".into() });
        }
        w.op(Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() });
        w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() });
        for part in risk_model_parts(&model()) {
            w.op(part);
        }
        w
    }

    pub fn send(&mut self, client: &str, command: Command) -> Outcome {
        self.id += 1;
        self.engine.apply(&Envelope { client: client.into(), id: self.id, command })
    }

    pub fn ok(&mut self, client: &str, command: Command) -> Vec<Event> {
        match self.send(client, command) {
            Outcome::Applied { events, .. } => events,
            other => panic!("{other:?}"),
        }
    }

    pub fn op(&mut self, command: Command) -> Vec<Event> {
        self.ok(SYSTEM_PRINCIPAL, command)
    }

    pub fn deposit(&mut self, owner: &str, asset: &str, amount: &str) {
        let external_ref = format!("0x{owner}-{asset}-{}", self.id);
        let account = format!("{owner}/main");
        self.op(Command::Deposit { account, asset: asset.into(), amount: amount.into(), custodian: "ethereum".into(), external_ref });
    }

    pub fn perp(&mut self, owner: &str, side: OrderSide, qty: &str) -> Vec<Event> {
        let command = Command::PlaceOrder {
            account: format!("{owner}/main"),
            market: "ETH-PERP".into(),
            client_order_id: self.id,
            side,
            kind: OrderKind::Limit,
            price: Some("3000".into()),
            qty: qty.into(),
        };
        self.ok(owner, command)
    }

    pub fn bid(&mut self, owner: &str, auction_id: u64, qty: &str, limit: &str) -> Outcome {
        let command = Command::BidLiquidation { auction_id, account: format!("{owner}/main"), qty: qty.into(), limit_price: limit.into() };
        self.send(owner, command)
    }

    /// Posted balance of an account in USDC or ETH, in smallest units.
    pub fn balance(&self, account: &str, asset: &str) -> i128 {
        let row = self.engine.balances().into_iter().find(|r| r.account == account && r.asset == asset);
        row.map_or(0, |r| units(&r.posted, if asset == "USDC" { 6 } else { 18 }))
    }

    pub fn qty(&self, account: &str) -> i128 {
        let positions = self.engine.positions_of(account).unwrap();
        positions.iter().find(|p| p.market == "ETH-PERP").map_or(0, |p| units(&p.qty, 9))
    }

    pub fn check(&mut self) {
        self.engine.check_invariants().unwrap();
        let hash = self.engine.state_hash();
        let snapshot = self.engine.to_snapshot();
        let mut restored = Engine::from_snapshot(snapshot).unwrap();
        assert_eq!(restored.state_hash(), hash, "a snapshot restores the same state");
    }
}

/// The `waterfall_step`s of `account` in `events`: (step, amount).
pub fn waterfall_steps(events: &[Event], account: &str) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::WaterfallStep { account: a, step, amount, .. } if a == account => Some((step.clone(), amount.clone())),
            _ => None,
        })
        .collect()
}

pub fn units(text: &str, decimals: u8) -> i128 {
    money::Amount::parse(text, money::Scale::new(decimals).unwrap()).unwrap().units()
}

pub fn usdc(text: &str) -> i128 {
    units(text, 6)
}

/// bob rests a sell of 3 at 3000; alice (1000 USDC) buys it: long 3 at 3000, taker fee 4.5.
pub fn alice_long() -> World {
    let mut w = World::new(liquidation_config(LastResort::Socialise));
    w.deposit("bob", "USDC", "100000");
    w.deposit("alice", "USDC", "1000");
    w.deposit("carol", "USDC", "100000");
    w.perp("bob", OrderSide::Sell, "3");
    w.perp("alice", OrderSide::Buy, "3");
    assert_eq!(w.balance("alice/main", "USDC"), usdc("995.5"));
    assert_eq!(w.qty("alice/main"), 3_000_000_000);
    w
}

/// The hand model with the 3000 call of 2026-12-25 worth 200 USD, losing 400 held short if ETH
/// rises 10% (as `tests/liquidation.rs::option_model("3000", 200, [-150, 400])`).
pub fn call_model() -> margin_core::RiskModel {
    let micro = |x: i64| x * 1_000_000;
    let mut m = model();
    let call = margin_core::InstrumentArray {
        id: "ETH-20261225-3000-C@clearhouse".into(),
        decimals: 9,
        scaling: margin_core::Scaling::Fixed,
        pnl: vec![micro(-150), micro(400), 0, 0],
    };
    m.instruments.insert(1, call);
    let value = |v: i64| margin_core::InstrumentCharges { value_musd: v, notional_musd: v, ..Default::default() };
    m.charges = margin_core::ChargeTables {
        instruments: vec![value(micro(3000)), value(micro(200)), value(0), value(micro(1))],
        ..Default::default()
    };
    m
}

/// Refused (or rejected) with a typed error and nothing changed.
pub fn refused_unchanged(w: &mut World, client: &str, command: Command) -> EngineError {
    let before = w.engine.books_hash();
    let outcome = w.send(client, command.clone());
    let error = match outcome {
        Outcome::Rejected { error, .. } | Outcome::Refused { error } => error,
        other => panic!("{command:?} expected a refusal, got {other:?}"),
    };
    assert_eq!(w.engine.books_hash(), before, "{command:?} refused as {error:?} changed the state");
    error
}
