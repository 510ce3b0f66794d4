//! Regenerates `crates/marketdata/calibration/default.json` from the raw market data.
//!
//! `cargo run -p marketdata --release --example calibrate [-- OUTPUT_PATH]`

use marketdata::{Calibration, FactorPanel, FhsParams};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("calibration/default.json"));
    let dir = marketdata::loader::find_data_dir()?;
    eprintln!("reading {}", dir.display());
    let panel = FactorPanel::load(&dir)?;
    let cal = Calibration::compute(&panel, &FhsParams::default(), marketdata::calibration::DEFAULT_VOL_SHOCK_QUANTILE)?;
    std::fs::write(&out, cal.to_json()?)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
