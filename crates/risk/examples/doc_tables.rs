//! Prints the generated tables of docs/margin-methodology.md and docs/protocol-risk.md:
//! `cargo run --release -p risk --example doc_tables`.

use risk::protocol::protocol_risk;
use risk::{MarketData, Portfolio, RiskParams, margin_portfolio};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let as_of = model::parse_date("2024-12-31")?;
    println!("### Protocol failure model as of 2024-12-31 (24 h margin period)\n");
    println!("| protocol | kind | multipliers | PD per year | PD per 24 h | LGD |");
    println!("|---|---|---|---|---|---|");
    for p in &config.protocols {
        let r = protocol_risk(p, &params.protocol, as_of, params.mpor_hours);
        let f: Vec<String> = r.factors.iter().map(|(n, m)| format!("{n} x{m:.2}")).collect();
        println!(
            "| `{}` | {} | {} | {:.2}% | {:.2e} | {:.2} |",
            p.id,
            risk::protocol::enum_name(&p.kind),
            f.join(", "),
            100.0 * r.pd_annual,
            r.pd_mpor,
            r.lgd
        );
    }
    let data = MarketData::load_default()?;
    println!("\n### Example portfolios as of 2024-12-31 ({})\n", data.describe());
    println!(
        "| portfolio | NLV | IM | MM | binding | ES (FHS) | floor | concentration | liquidity | isolated IM | weighted IM | IM / isolated | IM / weighted |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/portfolios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for f in files {
        let p = Portfolio::from_toml(&std::fs::read_to_string(&f)?)?;
        let r = margin_portfolio(&config, &params, &p, &data)?;
        let m = &r.margin;
        println!(
            "| `{}` | {:.0} | {:.0} | {:.0} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |",
            r.portfolio,
            r.net_liquidation_value,
            r.initial_margin,
            r.maintenance_margin,
            m.binding,
            m.es_fhs,
            m.floor_loss,
            m.concentrated_failure_loss,
            m.liquidity_charge,
            r.comparators.isolated.initial_margin,
            r.comparators.weighted.initial_margin,
            r.efficiency_vs_isolated.unwrap_or(f64::NAN),
            r.efficiency_vs_weighted.unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
