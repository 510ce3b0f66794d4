use super::*;

#[test]
fn shipped_default_config_loads() {
    let config = Config::from_toml(DEFAULT_CONFIG_TOML).unwrap();
    assert!(config.asset("USDC").is_some());
    assert_eq!(config.asset("stETH").unwrap().underlying_asset.as_deref(), Some("ETH"));
    assert_eq!(config.protocol("dydx").unwrap().kind, ProtocolKind::PerpVenue);
    assert!(config.instrument("ETH-20261225-3000-C@opyn").is_some());
    // A stablecoin is an asset that tracks USD, never USD itself.
    assert!(config.asset("USD").is_none());
    assert_eq!(config.asset("DAI").unwrap().tracks.as_deref(), Some("USD"));
}

fn with_replaced(from: &str, to: &str) -> Result<Config, ConfigError> {
    assert!(DEFAULT_CONFIG_TOML.contains(from), "fixture text {from:?} not in default config");
    Config::from_toml(&DEFAULT_CONFIG_TOML.replacen(from, to, 1))
}

fn invalid_key(result: Result<Config, ConfigError>) -> String {
    match result {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn unknown_key_is_refused_naming_it() {
    let err = with_replaced("audits = 4", "audits = 4\nhair_colour = \"red\"").unwrap_err();
    match err {
        ConfigError::Parse { message } => assert!(message.contains("hair_colour"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn inconsistent_references_are_refused_naming_the_key() {
    assert_eq!(invalid_key(with_replaced("protocol = \"circle\"", "protocol = \"circel\"")), "assets[1].protocol");
    assert_eq!(invalid_key(with_replaced("underlying_asset = \"ETH\"", "underlying_asset = \"ETC\"")), "assets[6].underlying_asset");
    assert_eq!(
        invalid_key(with_replaced("pool_assets = [\"ETH\", \"DAI\"]", "pool_assets = [\"ETH\", \"DIA\"]")),
        "assets[9].pool_assets[1]"
    );
    assert_eq!(invalid_key(with_replaced("venue = \"dydx\"", "venue = \"aave\"")), "instruments[0].venue");
    assert_eq!(invalid_key(with_replaced("strike_usd = \"3000\"", "strike_usd = \"-3000\"")), "instruments[4].strike_usd");
    assert_eq!(
        invalid_key(with_replaced("expiry = \"2026-12-25T08:00:00Z\"", "expiry = \"2026-02-30T08:00:00Z\"")),
        "instruments[4].expiry"
    );
    assert_eq!(invalid_key(with_replaced("launched = \"2018-09-26\"", "launched = \"26/09/2018\"")), "protocols[0].risk.launched");
    assert_eq!(invalid_key(with_replaced("decimals = 6", "decimals = 40")), "assets[1].decimals");
    assert_eq!(invalid_key(with_replaced("batch_commands_max = 10000", "batch_commands_max = 0")), "limits.batch_commands_max");
    assert_eq!(invalid_key(with_replaced("ETH = \"0.805\"", "ETH = \"1.805\"")), "protocols[9].margin_rules.ltv.ETH");
    assert_eq!(invalid_key(with_replaced("symbol = \"USDT\"", "symbol = \"USDC\"")), "assets[2].symbol");
    assert_eq!(invalid_key(with_replaced("version = 1", "version = 2")), "version");
    // A stablecoin issued by a perp venue is a category error.
    assert_eq!(invalid_key(with_replaced("protocol = \"tether\"", "protocol = \"dydx\"")), "assets[2].protocol");
}

#[test]
fn dates_parse_exactly() {
    assert_eq!(parse_date("1970-01-01"), Ok(0));
    assert_eq!(parse_date("2020-03-12"), Ok(18_333));
    assert_eq!(parse_date("2024-02-29"), Ok(19_782));
    assert!(parse_date("2023-02-29").is_err());
    assert_eq!(parse_datetime_ms("2020-03-12T00:00:01Z"), Ok(18_333 * 86_400_000 + 1000));
    assert!(parse_datetime_ms("2020-03-12 00:00:01").is_err());
    assert!(parse_datetime_ms("2020-03-12T24:00:00Z").is_err());
    // Independent references: `date -u -d 2000-02-29 +%s` / 86400 = 11016; 1969-12-31 is day -1.
    assert_eq!(parse_date("2000-02-29"), Ok(11_016));
    assert_eq!(parse_date("1969-12-31"), Ok(-1));
    assert_eq!(parse_datetime_ms("2026-12-25T08:00:00Z"), Ok(1_798_185_600_000));
}

#[test]
fn impossible_dates_are_refused_naming_the_value() {
    for text in ["2023-02-31", "2024-02-30", "2023-13-01", "2023-04-31", "2023-00-01", "20230201", "+002023-02-01", "2023-2-1"] {
        let problem = parse_date(text).unwrap_err();
        assert!(problem.contains(&format!("{text:?}")), "{problem}");
    }
    for text in [
        "2023-02-31T00:00:00Z",
        "2024-02-30T08:00:00Z",
        "2023-13-01T00:00:00Z",
        "2023-01-01T24:00:00Z",
        "2023-01-01T23:60:00Z",
        "2016-12-31T23:59:60Z",
        "2023-01-01T08:00:00+01:00",
        "2023-01-01T08:00:00.5Z",
    ] {
        let problem = parse_datetime_ms(text).unwrap_err();
        assert!(problem.contains(&format!("{text:?}")), "{problem}");
    }
}

/// Finding 10 (configuration): an impossible launch date, incident date or option expiry is refused
/// at load with the key that holds it and the value, never rolled over into the next month.
#[test]
fn impossible_config_dates_are_refused_naming_key_and_value() {
    let cases = [
        ("launched = \"2018-09-26\"", "launched = \"2023-02-31\"", "protocols[0].risk.launched", "2023-02-31"),
        ("date = \"2023-03-10\"", "date = \"2024-02-30\"", "protocols[0].risk.incidents[0].date", "2024-02-30"),
        ("launched = \"2018-09-26\"", "launched = \"2023-13-01\"", "protocols[0].risk.launched", "2023-13-01"),
        ("expiry = \"2026-12-25T08:00:00Z\"", "expiry = \"2026-12-25T24:00:00Z\"", "instruments[4].expiry", "2026-12-25T24:00:00Z"),
    ];
    for (from, to, key, value) in cases {
        match with_replaced(from, to) {
            Err(ConfigError::Invalid { key: k, problem }) => {
                assert_eq!(k, key);
                assert!(problem.contains(value), "{problem}");
            }
            other => panic!("{to}: expected Invalid at {key}, got {other:?}"),
        }
    }
}
