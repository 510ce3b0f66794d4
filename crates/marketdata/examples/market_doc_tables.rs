//! Prints the generated tables of `docs/market-data.md` (markdown) from the embedded calibration,
//! so the numbers in the document are the committed ones.
//!
//! `cargo run -p marketdata --example market_doc_tables`

use marketdata::Calibration;
use marketdata::panel::FactorKind;

fn pct(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

fn show(kind: FactorKind, mv: f64) -> String {
    match kind {
        // Log-returns shown with the equivalent simple return.
        FactorKind::Price | FactorKind::Vol => format!("{mv:+.4} ({})", pct(mv.exp() - 1.0)),
        FactorKind::Peg => format!("{mv:+.4}"),
        FactorKind::Basis | FactorKind::Funding => format!("{:+.3}%", mv * 100.0),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let c = Calibration::embedded()?;
    println!("Data: {} to {}; margin period {} h.\n", c.data_start, c.data_end, c.mpor_hours);
    println!("### Factor statistics\n");
    println!("| factor | kind | observed | carried | proxy | real data | long-run vol | stressed vol (at) | EWMA vol at end | floored |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for f in &c.factors {
        let span = f.real_span.map(|(a, b)| format!("{} .. {}", a.to_date(), b.to_date())).unwrap_or_else(|| "none (proxy)".into());
        println!(
            "| `{}` | {:?} | {:.1}% | {:.1}% | {:.1}% | {} | {:.4} | {:.4} ({}) | {:.4} | {:.4} |",
            f.name,
            f.kind,
            f.observed_fraction * 100.0,
            f.filled_fraction * 100.0,
            f.proxy_fraction * 100.0,
            span,
            f.long_run_vol_annual,
            f.stressed_vol_annual,
            f.stressed_vol_at.to_date(),
            f.current_ewma_vol_annual,
            f.current_floored_vol_annual
        );
    }
    println!("\n### Stress scenarios ({} h margin period)\n", c.mpor_hours);
    print!("| factor |");
    for s in &c.stress_scenarios {
        print!(" {} |", s.id);
    }
    println!();
    print!("|---|");
    for _ in &c.stress_scenarios {
        print!("---|");
    }
    println!();
    print!("| worst window start (UTC) |");
    for s in &c.stress_scenarios {
        print!(" {} |", s.window_start);
    }
    println!();
    print!("| available after |");
    for s in &c.stress_scenarios {
        print!(" {} |", s.available_after);
    }
    println!();
    if let Some(first) = c.stress_scenarios.first() {
        for (i, name) in first.factor_names.iter().enumerate() {
            print!("| `{name}` |");
            for s in &c.stress_scenarios {
                let src = match s.sources[i] {
                    marketdata::Source::Observed => "",
                    marketdata::Source::Filled => " c",
                    marketdata::Source::Proxy => " p",
                };
                let cell = match s.factor_kinds[i] {
                    // Pegs: also the levels, so a depeg reads as "1.0000 -> 0.8774".
                    FactorKind::Peg => format!("{:+.4} ({:.4}->{:.4})", s.moves[i], s.start_levels[i], s.start_levels[i] + s.moves[i]),
                    k => show(k, s.moves[i]),
                };
                print!(" {cell}{src} |");
            }
            println!();
        }
    }
    println!("\n(c = carried forward from daily data or a gap, p = proxy somewhere in the window.)\n");
    println!("### Implied-vol shocks\n");
    let v = &c.vol_shock;
    println!(
        "Quantile {}: up {:+.4} (x{:.3}), down {:+.4} (x{:.3}) in log vol at the {}-day tenor.\n",
        v.quantile,
        v.up_log_ref,
        v.up_log_ref.exp(),
        v.down_log_ref,
        v.down_log_ref.exp(),
        v.reference_days
    );
    println!("| expiry (days) | 1 | 7 | 30 | 90 | 180 |");
    println!("|---|---|---|---|---|---|");
    for (label, dir) in [("up", marketdata::stress::VolShockDirection::Up), ("down", marketdata::stress::VolShockDirection::Down)] {
        print!("| vol multiplier {label} |");
        for t in [1.0, 7.0, 30.0, 90.0, 180.0] {
            print!(" x{:.3} |", v.log_shock(t, dir).exp());
        }
        println!();
    }
    println!("\n### Proxy parameters\n");
    let p = &c.proxies;
    println!(
        "- DVOL / EWMA realised vol (BTC), mean over {} observed hours: {:.4}",
        p.dvol_overlap_hours,
        p.dvol_over_realised.unwrap_or(f64::NAN)
    );
    println!(
        "- DVOL at launch / proxy at launch: {:.4} (blended in over {} h before 2021-03-24)",
        p.dvol_seam_ratio.unwrap_or(f64::NAN),
        p.seam_ramp_hours
    );
    let b = p.peg_proxy_beta;
    println!(
        "- DAI before 2019-11-22: 1 + {b:.2} x (USDC - 1) (tail ratio, not used: {:.2})",
        p.dai_on_usdc_tail_ratio.unwrap_or(f64::NAN)
    );
    println!("- UST before 2020-11-25: 1 - {b:.2} x |DAI - 1| (tail ratio, not used: {:.2})", p.ust_on_dai_tail_ratio.unwrap_or(f64::NAN));
    println!(
        "- stETH/ETH before 2020-12-23: 1 - {b:.2} x |DAI - 1| (tail ratio, not used: {:.2})",
        p.steth_on_dai_tail_ratio.unwrap_or(f64::NAN)
    );
    for (f, side, b) in &p.price_betas {
        println!("- `{f}` {side} its data: ETH log-return x {b:.4}");
    }
    println!("\n### Correlation of daily moves ({} days)\n", c.correlation.observations);
    let main = [
        "price:BTC",
        "price:ETH",
        "price:SOL",
        "peg:USDC",
        "peg:DAI",
        "peg:USDT",
        "peg:stETH",
        "basis:BTC-PERP",
        "funding:BTC-PERP",
        "vol:BTC",
    ];
    let idx: Vec<usize> = main.iter().filter_map(|m| c.correlation.factors.iter().position(|f| f == m)).collect();
    print!("| |");
    for &i in &idx {
        print!(" {} |", c.correlation.factors[i]);
    }
    println!();
    print!("|---|");
    for _ in &idx {
        print!("---|");
    }
    println!();
    for &i in &idx {
        print!("| `{}` |", c.correlation.factors[i]);
        for &j in &idx {
            print!(" {:+.2} |", c.correlation.matrix[i][j]);
        }
        println!();
    }
    Ok(())
}
