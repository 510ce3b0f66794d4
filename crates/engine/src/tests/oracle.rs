//! Oracle guards in the engine (`docs/oracle-guards.md`, "In the engine"): the guarded median of
//! several feeds, clamping, quorum, refused prints, the guard's stable price in margin, and the
//! two attacks rebuilt through the engine (accounts, a model, prints), each beside the same
//! books priced by a single operator, where the attack works.

use super::*;
use margin_core::{InstrumentArray, RiskModel, Scaling, Underlying};
use markets::{OrderKind::*, OrderSide::*};

/// 2026-01-01T00:00:00Z.
const T0: u64 = 1_767_225_600_000;
const MINUTE: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;
const FEEDS: [&str; 3] = ["coinbase", "uniswap", "chainlink"];

/// A perp on `base` cloned from ETH-PERP, with sizes fit for a token near a dollar or below.
fn perp(config: &StateConfig, base: &str) -> model::Market {
    let mut m = config.markets.iter().find(|m| m.id == "ETH-PERP").expect("ETH-PERP in the default configuration").clone();
    m.id = format!("{base}-PERP");
    m.instrument = Some(format!("{base}-PERP@clearhouse"));
    m.base = base.into();
    (m.tick, m.lot, m.qty_min, m.qty_max) = ("0.0001".into(), "1".into(), "1".into(), "10000000".into());
    // Few holders, so that the settlement of every perp at once still fits one journal record.
    m.positions_max = Some(4);
    m
}

fn oracle_def(symbol: &str, max_move_bps: u32) -> model::OracleDef {
    model::OracleDef {
        symbol: symbol.into(),
        sources: FEEDS.iter().map(|s| s.to_string()).collect(),
        quorum: 2,
        staleness_ms: 3_600_000,
        max_move_bps,
        stable_growth_bps_per_hour: 1_000,
    }
}

/// The default configuration with margin on, perps on DAI and MNGO, and (if `guarded`) their
/// oracles: three feeds, quorum 2, an hour's staleness, DAI moving at most 5% and MNGO 10% per
/// print, the stable price 10% an hour.
fn oracle_config(guarded: bool) -> StateConfig {
    let mut c = config();
    c.settings.risk_model_max_age_ms = Some(DAY_MS);
    c.underlyings.extend(["DAI".to_string(), "MNGO".to_string()]);
    let markets = [perp(&c, "DAI"), perp(&c, "MNGO")];
    // Without the option series: every derivative market's settlement at once fits a record.
    c.markets.retain(|m| m.kind != model::MarketKind::Option);
    c.markets.extend(markets);
    if guarded {
        c.oracles = vec![oracle_def("DAI", 500), oracle_def("MNGO", 1_000)];
    }
    c
}

fn linear(id: &str, decimals: u8, underlying: u16, pnl: [i64; 4]) -> InstrumentArray {
    InstrumentArray { id: id.into(), decimals, scaling: Scaling::Linear { underlying }, pnl: pnl.to_vec() }
}

/// Four equally likely scenarios, IM the worst loss, MM half of it. Per whole unit, micro-USD:
/// DAI moves -2%, -0.5%, +0.5%, +5% (a short's worst loss 5% of the notional); MNGO -30%, -10%,
/// +10%, +30% of its 0.038 reference.
fn oracle_model(as_of_ms: u64) -> RiskModel {
    RiskModel {
        label: "oracle attacks".into(),
        as_of_ms,
        fhs_scenarios: 4,
        floor_weights_ppm: vec![],
        tail_ppm: 250_000,
        maintenance_ppm: 500_000,
        underlyings: vec![
            Underlying { name: "DAI".into(), ref_price: UsdPrice::parse("1").unwrap() },
            Underlying { name: "MNGO".into(), ref_price: UsdPrice::parse("0.038").unwrap() },
        ],
        instruments: vec![
            linear("DAI-PERP@clearhouse", 9, 0, [-20_000, -5_000, 5_000, 50_000]),
            linear("MNGO-PERP@clearhouse", 9, 1, [-11_400, -3_800, 3_800, 11_400]),
            InstrumentArray { id: "USDC".into(), decimals: 6, scaling: Scaling::Fixed, pnl: vec![0; 4] },
        ],
        charges: Default::default(),
    }
}

fn set_price(symbol: &str, p: &str) -> Command {
    Command::SetPrice { symbol: symbol.into(), price_usd: p.into() }
}

fn clock(now_ms: u64) -> Command {
    Command::AdvanceTime { now_ms }
}

fn place(market: &str, account: &str, cid: u64, side: markets::OrderSide, price: &str, qty: &str) -> Command {
    Command::PlaceOrder {
        account: account.into(),
        market: market.into(),
        client_order_id: cid,
        side,
        kind: Limit,
        price: Some(price.into()),
        qty: qty.into(),
    }
}

/// Ids of the operator and the feeds, counted so tests need not number them.
struct Books {
    e: Engine,
    guarded: bool,
    next: u64,
}

impl Books {
    /// `print` of `symbol` by `feed` where guarded, by the operator otherwise.
    fn print(&mut self, feed: usize, symbol: &str, p: &str) -> Outcome {
        self.next += 1;
        let client = if self.guarded { FEEDS[feed] } else { "operator" };
        self.e.apply(&as_(client, self.next, set_price(symbol, p)))
    }

    fn op(&mut self, command: Command) -> Vec<Event> {
        self.next += 1;
        applied(self.e.apply(&op(self.next, command)))
    }

    /// Every feed prints `p` (guarded), or the operator once.
    fn print_all(&mut self, symbol: &str, p: &str) -> Vec<Event> {
        let feeds = if self.guarded { FEEDS.len() } else { 1 };
        (0..feeds).flat_map(|f| applied(self.print(f, symbol, p))).collect()
    }
}

/// alice 1,000 USDC (from `engine`), bob 20,000, mallory 10,000; USDC at 1, DAI at 1, MNGO at
/// 0.038, the clock at T0, the model in force.
fn books(guarded: bool) -> Books {
    let mut b = Books { e: engine_from(oracle_config(guarded)), guarded, next: 100 };
    for feed in FEEDS {
        b.op(Command::RegisterPrincipal { name: feed.into(), role: Role::Feed });
    }
    b.op(Command::RegisterPrincipal { name: "mallory".into(), role: Role::Owner });
    b.op(create("mallory", "main"));
    b.op(deposit("bob/main", "USDC", "20000", USDC_ETH, "0xbob"));
    b.op(deposit("mallory/main", "USDC", "10000", USDC_ETH, "0xmallory"));
    b.op(set_price("USDC", "1"));
    b.op(clock(T0));
    b.print_all("DAI", "1");
    b.print_all("MNGO", "0.038");
    for part in risk_model_parts(&oracle_model(T0)) {
        b.op(part);
    }
    b
}

fn liquidations(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|ev| match ev {
            Event::HealthChanged { account, to: Health::Liquidation, .. } => Some(account.clone()),
            _ => None,
        })
        .collect()
}

fn price_of(e: &Engine, symbol: &str) -> UsdPrice {
    e.price(symbol).expect("priced").0
}

#[test]
fn the_engine_price_is_the_guarded_median_after_a_quorum() {
    let mut b = Books { e: engine_from(oracle_config(true)), guarded: true, next: 100 };
    for feed in FEEDS {
        b.op(Command::RegisterPrincipal { name: feed.into(), role: Role::Feed });
    }
    // One fresh source of a quorum of two: the print is kept, no price yet.
    let events = applied(b.print(0, "DAI", "1.01"));
    assert_eq!(events, vec![Event::PricePrintPending { symbol: "DAI".into(), source: "coinbase".into(), fresh: 1, quorum: 2 }]);
    assert_eq!(b.e.price("DAI"), None);
    // The second: the median of 1.01 and 0.99 is their mean, 1.00.
    applied(b.print(1, "DAI", "0.99"));
    assert_eq!(price_of(&b.e, "DAI"), UsdPrice::parse("1").unwrap());
    // The third at 1.50: the median of 0.99, 1.01, 1.50 is 1.01, within 5% of 1.00: not clamped.
    applied(b.print(2, "DAI", "1.5"));
    assert_eq!(price_of(&b.e, "DAI"), UsdPrice::parse("1.01").unwrap());
    // A second print of a source in the same millisecond, a print by a principal that is not a
    // source, and the operator's print of a guarded symbol are refused and change nothing.
    assert!(matches!(rejected(b.print(2, "DAI", "1.2")), EngineError::PricePrintRejected { .. }));
    b.next += 1;
    let error = rejected(b.e.apply(&op(b.next, set_price("DAI", "1"))));
    assert_eq!(
        error,
        EngineError::PricePrintRejected { symbol: "DAI".into(), principal: "operator".into(), why: "not a source of this symbol".into() }
    );
    // A feed prints nothing but prices, and only the symbols whose oracle names it.
    let error = rejected(b.e.apply(&as_("coinbase", 900, set_price("ETH", "3000"))));
    assert!(matches!(error, EngineError::PricePrintRejected { .. }), "{error:?}");
    let error = refused(b.e.apply(&as_("coinbase", 901, deposit("alice/main", "USDC", "1", USDC_ETH, "0xf"))));
    assert!(matches!(error, EngineError::Unauthorized { .. }), "{error:?}");
    assert_eq!(price_of(&b.e, "DAI"), UsdPrice::parse("1.01").unwrap());
    b.e.check_invariants().unwrap();
}

#[test]
fn a_move_beyond_the_limit_is_clamped_and_reported_then_reached_over_prints() {
    let mut b = books(true);
    b.op(clock(T0 + MINUTE));
    // Every feed at 1.20: the median moves 20%, DAI moves at most 5% per print.
    let events = applied(b.print(0, "DAI", "1.2"));
    assert!(!events.iter().any(|ev| matches!(ev, Event::PriceClamped { .. })), "one feed of three moves no median: {events:?}");
    let events = applied(b.print(1, "DAI", "1.2"));
    let clamped = Event::PriceClamped { symbol: "DAI".into(), median_usd: "1.2".into(), guarded_usd: "1.05".into() };
    assert!(events.contains(&clamped), "{events:?}");
    assert_eq!(price_of(&b.e, "DAI"), UsdPrice::parse("1.05").unwrap());
    // 1.05 x 1.05 = 1.1025, then 1.157625, then 1.2: a genuine move arrives in a few prints.
    applied(b.print(2, "DAI", "1.2"));
    assert_eq!(price_of(&b.e, "DAI"), UsdPrice::parse("1.1025").unwrap());
    b.op(clock(T0 + 2 * MINUTE));
    applied(b.print(0, "DAI", "1.2"));
    assert_eq!(price_of(&b.e, "DAI"), UsdPrice::parse("1.157625").unwrap());
    applied(b.print(1, "DAI", "1.2"));
    assert_eq!(price_of(&b.e, "DAI"), UsdPrice::parse("1.2").unwrap());
    // The guard is state: a snapshot carries it and restores the same hash.
    let restored = Engine::decode_snapshot(&b.e.encode_snapshot()).unwrap();
    assert_eq!(restored.oracle_reading("DAI"), b.e.oracle_reading("DAI"));
}

/// Compound, 2020-11-26: DAI printed up to 1.30 on Coinbase Pro for about an hour while other
/// markets stayed near 1.0; Compound's feed posted it and about $89M of DAI loans were
/// liquidated. Here bob is short 100,000 DAI-PERP (a DAI liability) with 20,000 USDC.
fn dai_spike(guarded: bool) -> (Books, Vec<Event>) {
    let mut b = books(guarded);
    b.next += 1;
    applied(b.e.apply(&as_("bob", b.next, place("DAI-PERP", "bob/main", 1, Sell, "1", "100000"))));
    b.op(deposit("alice/main", "USDC", "10000", USDC_ETH, "0xalice2"));
    let events = applied(b.e.apply(&as_("alice", 500, place("DAI-PERP", "alice/main", 1, Buy, "1", "100000"))));
    assert!(events.iter().any(|ev| matches!(ev, Event::PositionChanged { account, .. } if account == "bob/main")), "{events:?}");
    // The spike: Coinbase at 1.30, then Uniswap's TWAP at 1.025 and the aggregator at 1.003.
    let mut seen = Vec::new();
    b.op(clock(T0 + MINUTE));
    seen.extend(applied(b.print(0, "DAI", "1.3")));
    if guarded {
        seen.extend(applied(b.print(1, "DAI", "1.025")));
        seen.extend(applied(b.print(2, "DAI", "1.003")));
    }
    (b, seen)
}

#[test]
fn the_compound_dai_spike_on_one_venue_liquidates_nobody_through_the_guard() {
    let (mut b, events) = dai_spike(true);
    assert_eq!(liquidations(&events), Vec::<String>::new(), "{events:?}");
    // The median of 1.30, 1.025, 1.003 is 1.025: bob loses 2,500 on 100,000 DAI, equity 17,500
    // against MM = 100,000 x 1.025 x 5% / 2 = 2,562.5.
    assert_eq!(price_of(&b.e, "DAI"), UsdPrice::parse("1.025").unwrap());
    let m = b.e.account_margin("bob/main").unwrap();
    assert_eq!((m.equity_usd.as_str(), m.maintenance_usd.as_str()), ("17500", "2562.5"));
    // Priced by one operator, the same print costs bob 30,000 and flags him for liquidation.
    let (mut b, events) = dai_spike(false);
    assert_eq!(liquidations(&events), vec!["bob/main".to_string()]);
    assert_eq!(b.e.account_margin("bob/main").unwrap().equity_usd, "-10000");
}

/// Mango, 2022-10-11: MNGO went from about 0.038 to 0.91 in some twenty minutes on every venue
/// the oracles read, and the unrealised profit of the attacker's long MNGO-PERP was borrowed
/// against. Here mallory (10,000 USDC) is long 500,000 MNGO-PERP against bob; every feed pumps,
/// one print each per minute, geometrically to 0.91 after 20 minutes.
fn mngo_pump(guarded: bool) -> Books {
    let mut b = books(guarded);
    b.next += 1;
    applied(b.e.apply(&as_("bob", b.next, place("MNGO-PERP", "bob/main", 1, Sell, "0.038", "500000"))));
    let events = applied(b.e.apply(&as_("mallory", 1, place("MNGO-PERP", "mallory/main", 1, Buy, "0.038", "500000"))));
    assert!(events.iter().any(|ev| matches!(ev, Event::PositionChanged { account, .. } if account == "mallory/main")), "{events:?}");
    for minute in 1..=20u32 {
        b.op(clock(T0 + minute as u64 * MINUTE));
        // 0.038 x (0.91 / 0.038)^(minute / 20), to the micro-dollar (test input, not money).
        let p = 0.038 * (0.91f64 / 0.038).powf(minute as f64 / 20.0);
        b.print_all("MNGO", &format!("{p:.6}"));
    }
    b
}

#[test]
fn the_mango_pump_lends_the_attacker_nothing_against_inflated_collateral() {
    let mut b = mngo_pump(true);
    // Every source agrees, so the median follows the pump; the stable price may grow 10% an
    // hour: after 20 minutes at most 0.038 x e^(0.1/3) = 0.03929, so the long's unrealised
    // profit counts at most 500,000 x 0.00129 = 646 USD.
    let stable = b.e.stable_price("MNGO").unwrap();
    assert!(stable > UsdPrice::parse("0.038").unwrap() && stable < UsdPrice::parse("0.03929").unwrap(), "{stable}");
    assert_eq!(price_of(&b.e, "MNGO"), UsdPrice::parse("0.91").unwrap());
    let m = b.e.account_margin("mallory/main").unwrap();
    let equity: f64 = m.equity_usd.parse().unwrap();
    assert!(equity < 10_000.0 + 646.0, "{}", m.equity_usd);
    // Withdrawing half the deposit, or adding risk, is refused for margin: the initial margin
    // follows the pumped price (30% of 455,000 = 136,500), the collateral does not.
    let error = rejected(b.e.apply(&as_("mallory", 2, withdraw("mallory/main", "USDC", "5000", USDC_ETH, "m1"))));
    assert!(matches!(error, EngineError::InsufficientFreeCollateral { .. }), "{error:?}");
    let error = rejected(b.e.apply(&as_("mallory", 3, place("MNGO-PERP", "mallory/main", 2, Buy, "0.91", "1000"))));
    assert!(matches!(error, EngineError::InsufficientMargin { .. } | EngineError::ReduceOnlyAccount { .. }), "{error:?}");
    // Priced by one operator, the pumped profit (500,000 x 0.872 = 436,000) is collateral at
    // once (less the 9.5 taker fee) and the same withdrawal passes.
    let mut b = mngo_pump(false);
    let m = b.e.account_margin("mallory/main").unwrap();
    assert_eq!(m.equity_usd, "445990.5");
    applied(b.e.apply(&as_("mallory", 2, withdraw("mallory/main", "USDC", "5000", USDC_ETH, "m1"))));
}

#[test]
fn oracle_configuration_is_validated_and_changed_by_command() {
    let mut c = oracle_config(true);
    c.oracles[0].quorum = 4;
    assert!(matches!(Engine::with_genesis(c).err(), Some(EngineError::ConfigRefused { .. })));
    let mut c = oracle_config(true);
    c.oracles[0].symbol = "NOPE".into();
    assert!(matches!(Engine::with_genesis(c).err(), Some(EngineError::ConfigRefused { .. })));
    let mut c = oracle_config(true);
    c.oracles[1].sources[1] = "coinbase".into();
    assert!(matches!(Engine::with_genesis(c).err(), Some(EngineError::ConfigRefused { .. })));
    // An unknown key in an oracle entry is refused by the schema.
    let json = r#"{"symbol":"DAI","sources":["a"],"quorum":1,"staleness_ms":1,"max_move_bps":1,"stable_growth_bps_per_hour":1,"extra":1}"#;
    assert!(serde_json::from_str::<model::OracleDef>(json).is_err());
    // A guard added on a live journal: the operator's print of ETH is then refused.
    let mut b = books(false);
    b.op(set_price("ETH", "3000"));
    b.op(Command::Configure { change: ConfigChange::SetOracle { oracle: oracle_def("ETH", 500) } });
    b.next += 1;
    assert!(matches!(rejected(b.e.apply(&op(b.next, set_price("ETH", "3001")))), EngineError::PricePrintRejected { .. }));
    b.guarded = true;
    applied(b.print(0, "ETH", "3001"));
    applied(b.print(1, "ETH", "3003"));
    assert_eq!(price_of(&b.e, "ETH"), UsdPrice::parse("3002").unwrap());
}

#[test]
fn a_configuration_without_oracles_keeps_its_digest() {
    // The JSON the digest was taken over before `liquidation` and `oracles` existed is today's
    // without the two fields (both absent here).
    let c = config();
    let full = serde_json::to_string(&c).unwrap();
    let before = full
        .strip_suffix(",\"liquidation\":null,\"oracles\":[]}")
        .map(|s| format!("{s}}}"))
        .expect("liquidation and oracles are the last fields");
    assert_eq!(c.digest(), *blake3::hash(before.as_bytes()).as_bytes());
    let guarded = oracle_config(true);
    assert_eq!(guarded.digest(), *blake3::hash(serde_json::to_string(&guarded).unwrap().as_bytes()).as_bytes());
}
