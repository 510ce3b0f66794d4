//! The engine's margin of an account equals `clearhouse margin --model` on the same book written
//! as a portfolio file: the same risk model (compiled by `clearhouse risk-model`, installed in the
//! engine by journalled commands), the same positions, the same prices, the same integers.
//! Runs on the embedded calibration (chosen explicitly), so it needs no market-data directory.

use engine::{Command, Engine, Envelope, Outcome, SYSTEM_PRINCIPAL, StateConfig, risk_model_parts};
use model::Role;
use std::process::Command as Process;

fn clearhouse(args: &[&str]) -> std::process::Output {
    Process::new(env!("CARGO_BIN_EXE_clearhouse"))
        .args(args)
        .env("CLEARHOUSE_MARKET_DATA", "/nonexistent")
        .output()
        .expect("clearhouse runs")
}

const AS_OF: &str = "2024-12-31T00:00:00Z";

/// (asset, amount): the book held by the engine account and written to the file.
const BOOK: [(&str, &str); 4] = [("USDC", "25000"), ("ETH", "12.5"), ("stETH", "40"), ("WBTC", "0.75")];

fn engine_margin(model: &margin_core::RiskModel) -> String {
    let mut config = StateConfig::from_model(&model::Config::default_config());
    config.settings.risk_model_max_age_ms = Some(86_400_000);
    let mut e = Engine::with_genesis(config).unwrap();
    let mut id = 100;
    let mut apply = |e: &mut Engine, client: &str, command: Command| {
        id += 1;
        let outcome = e.apply(&Envelope { client: client.into(), id, command });
        assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    };
    apply(&mut e, SYSTEM_PRINCIPAL, Command::RegisterPrincipal { name: "alice".into(), role: Role::Owner });
    apply(&mut e, SYSTEM_PRINCIPAL, Command::CreateAccount { owner: "alice".into(), sub: "main".into() });
    for (asset, amount) in BOOK {
        let deposit = Command::Deposit {
            account: "alice/main".into(),
            asset: asset.into(),
            amount: amount.into(),
            custodian: "ethereum".into(),
            external_ref: format!("0x{asset}"),
        };
        apply(&mut e, SYSTEM_PRINCIPAL, deposit);
    }
    // The engine's prices are the model's reference prices, as the file's margin uses them.
    for u in model.underlyings.iter().filter(|u| u.name != "USD") {
        apply(&mut e, SYSTEM_PRINCIPAL, Command::SetPrice { symbol: u.name.clone(), price_usd: u.ref_price.to_string() });
    }
    for symbol in ["USDC", "ETH", "stETH", "WBTC"] {
        if !model.underlyings.iter().any(|u| u.name == symbol) {
            apply(&mut e, SYSTEM_PRINCIPAL, Command::SetPrice { symbol: symbol.into(), price_usd: "1".into() });
        }
    }
    apply(&mut e, SYSTEM_PRINCIPAL, Command::AdvanceTime { now_ms: model.as_of_ms });
    for part in risk_model_parts(model) {
        apply(&mut e, SYSTEM_PRINCIPAL, part);
    }
    e.account_margin("alice/main").unwrap().initial_usd
}

#[test]
fn the_engines_margin_equals_clearhouse_margin_on_the_same_book() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("model.postcard");
    let o = clearhouse(&["risk-model", "--embedded-calibration", "--as-of", AS_OF, "--out", model_path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let model: margin_core::RiskModel = postcard::from_bytes(&std::fs::read(&model_path).unwrap()).unwrap();

    let mut file = format!("name = \"crosscheck\"\nas_of = \"{AS_OF}\"\n");
    for (asset, amount) in BOOK {
        file.push_str(&format!("\n[[balances]]\nasset = \"{asset}\"\namount = \"{amount}\"\n"));
    }
    let book = dir.path().join("book.toml");
    std::fs::write(&book, file).unwrap();
    let o = clearhouse(&["margin", book.to_str().unwrap(), "--model", model_path.to_str().unwrap(), "--embedded-calibration", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let from_file = v["initial_margin_usd"].as_str().unwrap().to_string();

    let from_engine = engine_margin(&model);
    let parse = |s: &str| money::parse_decimal(s, money::USD_SCALE).unwrap();
    assert!(parse(&from_file) > 0, "a book with risk has a margin: {from_file}");
    assert_eq!(parse(&from_engine), parse(&from_file), "engine {from_engine} vs clearhouse margin {from_file}");
}
