//! A token held alone, or a borrow held alone, of an account below maintenance is closed by
//! `@house` at once (docs/liquidation.md, "Token legs"), hand-computed against the model of
//! `tests/liquidation.rs`: one underlying ETH at reference 3000, IM the worst of four
//! scenarios, 10% of the notional either way; MM half of it. Liquidation: chunks of 25%, back
//! to IM, closing cost 0.5% penalty + 1% cap, half the penalty to `@insurance`.
//!
//! The debts are made as a derivative payment makes them: `pay` lends the payer what it lacks
//! (the engine has no command that borrows on its own).

use super::*;
use margin_core::{InstrumentArray, RiskModel, Scaling, Underlying};

fn model() -> RiskModel {
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
        underlyings: vec![Underlying { name: "ETH".into(), ref_price: UsdPrice::parse("3000").unwrap() }],
        instruments: vec![
            linear("ETH", 18),
            linear("ETH-PERP@clearhouse", 9),
            InstrumentArray { id: "USDC".into(), decimals: 6, scaling: Scaling::Fixed, pnl: vec![0; 4] },
        ],
        charges: Default::default(),
    }
}

fn liquidation() -> model::LiquidationConfig {
    model::LiquidationConfig {
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
        last_resort: model::LastResort::Socialise,
        insurance_fee_ppm: None,
    }
}

struct World {
    e: Engine,
    id: u64,
}

impl World {
    /// Genesis with liquidation, alice and bob, ETH at 3000, the model installed.
    fn new() -> World {
        let mut c = config();
        c.settings.risk_model_max_age_ms = Some(400_000_000);
        c.liquidation = Some(liquidation());
        let mut w = World { e: Engine::with_genesis(c).unwrap(), id: 0 };
        w.op(Command::AdvanceTime { now_ms: 1_000_000 });
        for owner in ["alice", "bob"] {
            w.op(Command::RegisterPrincipal { name: owner.into(), role: Role::Owner });
            w.op(create(owner, "main"));
        }
        w.op(Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() });
        w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() });
        for part in risk_model_parts(&model()) {
            w.op(part);
        }
        w
    }

    fn op(&mut self, command: Command) -> Vec<Event> {
        self.id += 1;
        applied(self.e.apply(&op(self.id, command)))
    }

    fn deposit(&mut self, account: &str, asset: &str, amount: &str) {
        let reference = format!("0x{}", self.id);
        self.op(deposit(account, asset, amount, USDC_ETH, &reference));
    }

    /// alice pays bob `amount` of `asset` she does not have: the house lends it to her.
    fn owe(&mut self, asset: &str, amount: i128) {
        let (alice, bob) = (self.e.account_index["alice/main"], self.e.account_index["bob/main"]);
        let a = AssetIdx(self.e.assets.iter().position(|x| x.symbol == asset).unwrap() as u16);
        let seq = self.e.next_seq() - 1;
        let mut events = Vec::new();
        self.e.pay(alice, bob, a, amount, ledger::Reason::Trade, seq, &mut events);
        // As after any command: the health of the accounts it touched.
        let mut touched = [alice, bob];
        touched.sort_unstable();
        self.e.refresh_health(&touched, None, false, health::HEALTH_EVENTS_PER_COMMAND_MAX, &mut events);
        self.e.check_invariants().unwrap();
    }

    fn takeovers(events: &[Event]) -> Vec<[String; 7]> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::TokenLegTakenOver { asset, side, qty, price, value, penalty, insurance_share, .. } => {
                    Some([asset, side, qty, price, value, penalty, insurance_share].map(|s| s.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn started(events: &[Event]) -> Option<(String, String, String, bool)> {
        events.iter().find_map(|e| match e {
            Event::LiquidationStarted { equity, im, mm, target_reached, .. } => {
                Some((equity.clone(), im.clone(), mm.clone(), *target_reached))
            }
            _ => None,
        })
    }

    fn check(&mut self) {
        self.e.check_invariants().unwrap();
        let hash = self.e.state_hash();
        let mut restored = Engine::from_snapshot(self.e.to_snapshot()).unwrap();
        assert_eq!(restored.state_hash(), hash, "a snapshot restores the same state");
    }
}

/// alice holds 1 ETH and owes 2600 USDC: at 3000 equity 400 >= IM 300. At 2700: equity 100 <
/// MM 135 (IM 270). The ETH is one group; closing cost 1.5% of 2700 = 40.5 an ETH. After 25%:
/// IM 202.5 > 100 - 10.125; 50%: 135 > 79.75; 75%: 67.5 <= 69.625. 0.75 ETH goes to the house
/// at min(oracle, stable) = 2700: 2025 USDC, penalty ceil(0.5% of 2025) = 10.125, 5.0625 to the
/// fund. alice: 0.25 ETH, debt 2600 - 2025 + 10.125 = 585.125; equity 675 - 585.125 = 89.875
/// >= IM 67.5.
#[test]
fn a_token_held_alone_is_sold_to_the_house_less_the_penalty() {
    let mut w = World::new();
    w.deposit("alice/main", "ETH", "1");
    w.owe("USDC", 2_600_000_000);
    let events = w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2700".into() });
    assert_eq!(World::started(&events), Some(("100".into(), "270".into(), "135".into(), true)), "{events:?}");
    let expected = ["ETH", "sell", "0.75", "2700", "2025", "10.125", "5.0625"].map(String::from);
    assert_eq!(World::takeovers(&events), vec![expected], "{events:?}");
    assert!(events.iter().any(|e| matches!(e, Event::LiquidationEnded { account, .. } if account == "alice/main")));
    assert_eq!(posted(&w.e, "alice/main", "ETH"), "0.25");
    assert_eq!(w.e.debt("alice/main", "USDC").unwrap(), 585_125_000);
    assert_eq!(w.e.account_margin("alice/main").unwrap().equity_usd, "89.875");
    assert_eq!(posted(&w.e, "@insurance", "USDC"), "5.0625");
    assert_eq!(posted(&w.e, "@house", "ETH"), "0.75");
    assert!(w.e.health_flags().is_empty(), "{:?}", w.e.health_flags());
    w.check();
}

/// alice holds 3300 USDC and owes 1 ETH: at 3000 equity 300 >= IM 300. At 3160: equity 140 <
/// MM 158 (IM 316; the model scales by 3160 / 3000 rounded up, so 316.0000002). Closing cost 1.5% of 3160 = 47.4 an ETH. After 25%: IM 237 > 128.15; 50%:
/// 158 > 116.3; 75%: 79 <= 104.45. The house sells her 0.75 ETH at max(oracle, stable) = 3160:
/// 2370 USDC, penalty ceil(0.5% of 2370) = 11.85, 5.925 to the fund; the ETH repays 0.75 of
/// the debt. alice: 3300 - 2370 - 11.85 = 918.15 USDC, owes 0.25 ETH (790): equity 128.15 >=
/// IM 79.
#[test]
fn a_borrow_held_alone_is_bought_back_from_the_house_plus_the_penalty() {
    let mut w = World::new();
    w.deposit("alice/main", "USDC", "3300");
    w.owe("ETH", 1_000_000_000_000_000_000);
    assert!(w.e.health_flags().is_empty());
    let events = w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "3160".into() });
    assert_eq!(World::started(&events), Some(("140".into(), "316.0000002".into(), "158.0000001".into(), true)), "{events:?}");
    let expected = ["ETH", "buy", "0.75", "3160", "2370", "11.85", "5.925"].map(String::from);
    assert_eq!(World::takeovers(&events), vec![expected], "{events:?}");
    assert_eq!(posted(&w.e, "alice/main", "USDC"), "918.15");
    assert_eq!(w.e.debt("alice/main", "ETH").unwrap(), 250_000_000_000_000_000);
    assert_eq!(w.e.account_margin("alice/main").unwrap().equity_usd, "128.15");
    assert_eq!(posted(&w.e, "@insurance", "USDC"), "5.925");
    assert!(w.e.health_flags().is_empty(), "{:?}", w.e.health_flags());
    w.check();
}
