//! Diagnostic: the 24h move of every factor across each change of provenance (proxy <-> real),
//! compared with the factor's 99th percentile absolute 24h move. Large seams would be artificial
//! scenarios in FHS.
//!
//! `cargo run -p marketdata --release --example seams`

use marketdata::{FactorPanel, Source};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let p = FactorPanel::load_default()?;
    for f in 0..p.n_factors() {
        let src = p.sources(f);
        let mut all: Vec<f64> = (24..p.len()).step_by(8).map(|i| p.move_between(f, i - 24, i).abs()).collect();
        all.sort_by(f64::total_cmp);
        let q99 = all[(all.len() - 1) * 99 / 100];
        for i in 1..p.len() {
            let (a, b) = (src[i - 1] == Source::Proxy, src[i] == Source::Proxy);
            if a != b && i >= 12 && i + 12 < p.len() {
                let seam = p.move_between(f, i - 12, i + 12);
                let hour = p.move_between(f, i - 1, i);
                if hour.abs() > 0.25 * q99 {
                    println!(
                        "{:18} {} {:>6} -> {:>6}: 1h move {:+.5}, 24h move {:+.5}, q99 |24h| {:.5}",
                        p.factor_names()[f],
                        p.time(i),
                        if a { "proxy" } else { "real" },
                        if b { "proxy" } else { "real" },
                        hour,
                        seam,
                        q99
                    );
                }
            }
        }
    }
    Ok(())
}
