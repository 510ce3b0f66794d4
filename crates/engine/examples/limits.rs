//! Prints the bounds the engine reconciles against the journal's limits, for a configuration.
//!
//! `cargo run -p engine --example limits [-- CONFIG.toml]`

fn main() {
    let config = match std::env::args().nth(1) {
        Some(path) => {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
            model::Config::from_toml(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
        }
        None => model::Config::default_config(),
    };
    let limits = &config.limits;
    let counts = engine::limits::Counts::of_limits(limits);
    println!("largest result   {:>12} bytes (limit {})", engine::limits::largest_result_bytes(limits), engine::limits::RECORD_BYTES_MAX);
    println!("largest command  {:>12} bytes (limit {})", engine::limits::largest_command_bytes(limits), engine::limits::RECORD_BYTES_MAX);
    println!(
        "largest order    {:>12} bytes (limit {})",
        engine::limits::market_result_bytes(limits.market_orders_max),
        engine::limits::RECORD_BYTES_MAX
    );
    let markets: Vec<&model::Market> = config.markets.iter().collect();
    let derivative_books = config.markets.iter().filter(|m| m.kind != model::MarketKind::Spot).map(|m| m.book_orders_max).max();
    if let Some(orders) = derivative_books {
        println!(
            "largest derivative order {:>4} bytes (limit {})",
            engine::limits::derivative_order_bytes(orders),
            engine::limits::RECORD_BYTES_MAX
        );
    }
    println!(
        "largest settlement {:>10} bytes (limit {})",
        engine::limits::settlement_result_bytes(&markets),
        engine::limits::RECORD_BYTES_MAX
    );
    println!(
        "one liquidation  {:>12} bytes and an auction chunk {} bytes, on top of the largest result and {} bytes reserved",
        engine::limits::liquidation_account_bytes(&markets, limits.assets_max.into()),
        engine::limits::liquidation_chunk_bytes(),
        engine::limits::liquidation_reserve_bytes()
    );
    let positions: u64 = config.markets.iter().filter_map(|m| m.positions_max).map(u64::from).sum();
    println!(
        "positions_max over the markets {positions} (limit {}); one position's settlement at most {} bytes",
        engine::limits::POSITIONS_TOTAL_MAX,
        engine::limits::settlement_position_bytes()
    );
    for m in config.markets.iter().filter(|m| m.kind != model::MarketKind::Spot) {
        println!("  {:<24} positions_max {:>6}", m.id, m.positions_max.unwrap_or(0));
    }
    match engine::limits::check_liquidation(&markets, limits) {
        Ok(()) => println!("a [liquidation] section fits"),
        Err(e) => println!("a [liquidation] section is refused: {e}"),
    }
    println!("largest snapshot {:>12} bytes (limit {})", engine::limits::snapshot_bytes_bound(&counts), engine::limits::SNAPSHOT_BYTES_MAX);
    match engine::limits::reconcile(limits) {
        Ok(()) => println!("reconciled"),
        Err(e) => println!("NOT reconciled: {e}"),
    }
}
