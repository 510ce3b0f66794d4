//! Prints, for a few as-of dates, the 1% and 99% quantiles and the 99% expected shortfall (both
//! tails) of each factor's FHS moves: a quick sanity check of the scenario set.
//!
//! `cargo run -p marketdata --release --example fhs_summary [-- 2020-03-11T00:00:00Z ...]`

use marketdata::{FactorPanel, FhsParams, Hour, fhs_scenarios};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let p = FactorPanel::load_default()?;
    let mut dates: Vec<Hour> =
        std::env::args().skip(1).map(|a| marketdata::parse_hour(&a, "command-line argument")).collect::<Result<_, _>>()?;
    if dates.is_empty() {
        dates = vec![Hour::from_ymdh(2020, 3, 11, 0), Hour::from_ymdh(2021, 1, 1, 0), Hour::from_ymdh(2023, 7, 1, 0), p.end()];
    }
    for t in dates {
        let s = fhs_scenarios(&p, t, &FhsParams::default())?;
        println!("as of {t}: {} scenarios", s.len());
        println!("{:18} {:>9} {:>9} {:>9} {:>9} {:>10}", "factor", "q01", "q99", "ES99 dn", "ES99 up", "sigma_now");
        for f in 0..s.n_factors() {
            let mut x: Vec<f64> = (0..s.len()).map(|i| s.row(i)[f]).collect();
            x.sort_by(f64::total_cmp);
            let k = (x.len() / 100).max(1);
            let es_dn = x[..k].iter().sum::<f64>() / k as f64;
            let es_up = x[x.len() - k..].iter().sum::<f64>() / k as f64;
            println!(
                "{:18} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>10.4}",
                s.factor_names[f],
                x[k - 1],
                x[x.len() - k],
                es_dn,
                es_up,
                s.sigma_now_hourly[f] * 8760f64.sqrt()
            );
        }
    }
    Ok(())
}
