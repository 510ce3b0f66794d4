//! One-shot wall-clock timing of the data pipeline (a quick complement to the criterion bench).
//!
//! `cargo run -p marketdata --release --example timing`

use marketdata::panel::ProxyParams;
use marketdata::{FactorPanel, FhsParams, Hour, VolModel, fhs_scenarios_with, stress_scenarios};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = marketdata::loader::find_data_dir()?;
    let t = Instant::now();
    let raw = marketdata::loader::load_raw(&dir)?;
    let t_raw = t.elapsed();
    let t = Instant::now();
    let panel = FactorPanel::build(&raw, ProxyParams::default())?;
    let t_build = t.elapsed();
    let params = FhsParams::default();
    let t = Instant::now();
    let vm = VolModel::compute(&panel, &params.ewma)?;
    let t_vm = t.elapsed();
    let as_of = Hour::from_ymdh(2024, 12, 31, 0);
    let t = Instant::now();
    let s = fhs_scenarios_with(&panel, &vm, as_of, &params)?;
    let t_fhs = t.elapsed();
    let t = Instant::now();
    let st = stress_scenarios(&panel, as_of, 24)?;
    let t_stress = t.elapsed();
    // A daily backtest: one FHS set per day over 2020-2024 with a shared VolModel.
    let t = Instant::now();
    let mut rows = 0usize;
    let mut day = Hour::from_ymdh(2020, 1, 1, 0);
    while day < as_of {
        rows += fhs_scenarios_with(&panel, &vm, day, &params)?.len();
        day = day.plus_hours(24);
    }
    let t_bt = t.elapsed();
    println!("grid: {} hours x {} factors", panel.len(), panel.n_factors());
    println!("load_raw (parse CSV):        {:>9.1} ms", t_raw.as_secs_f64() * 1e3);
    println!("FactorPanel::build:          {:>9.1} ms", t_build.as_secs_f64() * 1e3);
    println!("VolModel::compute:           {:>9.1} ms", t_vm.as_secs_f64() * 1e3);
    println!("fhs_scenarios_with:          {:>9.2} ms  ({} scenarios)", t_fhs.as_secs_f64() * 1e3, s.len());
    println!("stress_scenarios:            {:>9.2} ms  ({} scenarios)", t_stress.as_secs_f64() * 1e3, st.len());
    println!("daily FHS 2020-2024:         {:>9.1} ms  ({} scenario rows in total)", t_bt.as_secs_f64() * 1e3, rows);
    Ok(())
}
