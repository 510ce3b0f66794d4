//! The figures of issue 8's findings, recomputed on the market history: margin of the books the
//! issue names, as of the dates it names, next to the loss realised over the next 24 hours.
//! Run: `cargo run --release -p risk --example findings`. Venue launch dates are not checked here
//! (as in the backtest: old markets replayed on today's venues).

use marketdata::Hour;
use risk::book::Book;
use risk::margin::{Engine, Scratch};
use risk::market::{BaseMarket, Universe};
use risk::portfolio::parse_as_of;
use risk::report::MarketData;
use risk::scenarios::{HypotheticalContext, ScenarioBook, ScenarioKind, revalue, short_dated_options};
use risk::{Portfolio, RiskParams};

struct Row {
    what: &'static str,
    as_of: &'static str,
    body: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Two short-dated options the issue names, added to the shipped configuration.
    let extra = "\n[[instruments]]\nid = \"ETH-20200313-150-P@opyn\"\nkind = \"option\"\nunderlying = \"ETH\"\nstrike_usd = \"150\"\nexpiry = \"2020-03-13T08:00:00Z\"\nright = \"put\"\nvenue = \"opyn\"\nsettlement_asset = \"USDC\"\n\n[[instruments]]\nid = \"ETH-20240524-3300-C@opyn\"\nkind = \"option\"\nunderlying = \"ETH\"\nstrike_usd = \"3300\"\nexpiry = \"2024-05-24T08:00:00Z\"\nright = \"call\"\nvenue = \"opyn\"\nsettlement_asset = \"USDC\"\n";
    let config = model::Config::from_toml(&format!("{}{extra}", model::DEFAULT_CONFIG_TOML))?;
    let params = RiskParams::default_params();
    let MarketData::Panel { panel, vol_model } = MarketData::load(&params)? else { return Err("needs the market history".into()) };
    let names = panel.factor_names().to_vec();
    let kinds: Vec<_> = (0..panel.n_factors()).map(|f| panel.kind(f)).collect();
    let universe = Universe::new(&config, &params, &names, &kinds)?;
    let pos = |i: &str, q: &str| format!("[[positions]]\ninstrument = \"{i}\"\nquantity = \"{q}\"\n");
    let bal = |a: &str, q: &str| format!("[[balances]]\nasset = \"{a}\"\namount = \"{q}\"\n");
    let rows = vec![
        Row { what: "long 100 BTC perp", as_of: "2020-03-12", body: pos("BTC-PERP@dydx", "100") },
        Row { what: "long 1000 ETH perp", as_of: "2020-03-12", body: pos("ETH-PERP@dydx", "1000") },
        Row { what: "short 1000 ETH perp", as_of: "2024-05-20", body: pos("ETH-PERP@dydx", "-1000") },
        Row { what: "short 1000 ETH perp", as_of: "2021-01-03", body: pos("ETH-PERP@dydx", "-1000") },
        Row { what: "long BTC / short ETH perps, equal notional", as_of: "2024-05-20", body: "PAIR".into() },
        Row {
            what: "USDC+DAI+USDT 240k each",
            as_of: "2023-03-10",
            body: format!("{}{}{}", bal("USDC", "240000"), bal("DAI", "240000"), bal("USDT", "240000")),
        },
        Row { what: "20 ETH perps", as_of: "2024-12-31", body: pos("ETH-PERP@dydx", "20") },
        Row {
            what: "20 ETH perps + 40 short 3500 calls",
            as_of: "2024-12-31",
            body: format!("{}{}", pos("ETH-PERP@dydx", "20"), pos("ETH-20261225-3500-C@opyn", "-40")),
        },
        Row { what: "1000 short ETH 150-puts, 1.3 days", as_of: "2020-03-12", body: pos("ETH-20200313-150-P@opyn", "-1000") },
        Row { what: "1000 short ETH 3300-calls, 4 days", as_of: "2024-05-20", body: pos("ETH-20240524-3300-C@opyn", "-1000") },
        Row { what: "long 100 ETH spot", as_of: "2024-12-31", body: bal("ETH", "100") },
        Row { what: "long 100 ETH spot", as_of: "2022-11-08", body: bal("ETH", "100") },
    ];
    println!("| book | as of | IM | notional | IM / notional | realised 24h loss | uncovered | binding |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        let t = parse_as_of(r.as_of, "as_of")?;
        let body = if r.body == "PAIR" {
            let base = BaseMarket::from_panel(&universe, &panel, t, &params, &Default::default())?;
            let btc = base.spot_usd(&universe, universe.underlying("BTC").ok_or("BTC")?).ok_or("BTC")?;
            let eth = base.spot_usd(&universe, universe.underlying("ETH").ok_or("ETH")?).ok_or("ETH")?;
            format!("{}{}", pos("BTC-PERP@dydx", &format!("{:.6}", 1e6 / btc)), pos("ETH-PERP@dydx", &format!("{:.6}", -1e6 / eth)))
        } else {
            r.body.clone()
        };
        let p = Portfolio::from_toml(&format!("name = \"x\"\nas_of = \"{}\"\n{body}", r.as_of))?;
        let (im, notional, loss, binding) = margin_and_loss(&config, &params, &universe, &panel, &vol_model, &p, t)?;
        println!(
            "| {} | {} | {im:.0} | {notional:.0} | {:.1}% | {loss:.0} | {:.0} | {binding} |",
            r.what,
            r.as_of,
            100.0 * im / notional,
            (loss - im).max(0.0)
        );
    }
    Ok(())
}

type Figures = (f64, f64, f64, String);

fn margin_and_loss(
    config: &model::Config,
    params: &RiskParams,
    universe: &Universe,
    panel: &marketdata::FactorPanel,
    vm: &marketdata::VolModel,
    p: &Portfolio,
    t: Hour,
) -> Result<Figures, Box<dyn std::error::Error>> {
    let base = BaseMarket::from_panel(universe, panel, t, params, &p.market)?;
    let book = Book::compile(config, params, universe, &base, p, None)?;
    let hypo = HypotheticalContext {
        config,
        universe,
        short_dated: short_dated_options(&book, &base, universe, params.hypothetical.short_dated_days),
    };
    let scen = ScenarioBook::from_panel(panel, vm, t, params, &[], Some(&hypo))?;
    let rv = revalue(&book, universe, &base, &scen)?;
    let engine = Engine::new(config, universe, &base, book.instruments.clone(), &scen, rv, params)?;
    let positions: Vec<(usize, f64)> = book.positions.iter().map(|q| (q.instrument, q.quantity)).collect();
    let m = engine.margin(&positions, &[], false, &mut Scratch::default());
    let notional: f64 = positions.iter().map(|&(i, q)| (q * engine.unit_notional[i]).abs()).sum();
    let realised = marketdata::realised_move(panel, t, 24)?;
    let real = ScenarioBook {
        as_of: t,
        mpor_hours: 24,
        kinds: vec![ScenarioKind::Realised],
        n_factors: realised.len(),
        moves: realised,
        n_fhs: 0,
        vol_shock: None,
    };
    let rr = revalue(&book, universe, &base, &real)?;
    let loss: f64 = positions.iter().map(|&(i, q)| -q * rr.dv[i]).sum();
    Ok((m.initial_margin, notional, loss, m.binding))
}
