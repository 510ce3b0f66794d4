//! The only module that performs I/O: locating the market-data directory and parsing its CSV files.
//!
//! Parsing is hand-written because the files are simple (`timestamp` + numeric columns, empty cell =
//! missing). Every error names the file and the 1-based line. Parsed series are converted to
//! [`Obs`]: values stamped at the instant they became known (bar close), see [`crate::time::Hour`].

use crate::error::{MarketDataError, Result};
use crate::time::{Hour, parse_hour};
use std::path::{Path, PathBuf};

/// Environment variable that overrides the data directory.
pub const DATA_DIR_ENV: &str = "CLEARHOUSE_MARKET_DATA";

/// No file in the data set has more than ~53k rows; this bound stops a wrong file from exhausting memory.
pub const MAX_ROWS_PER_FILE: usize = 200_000;

/// A parsed CSV table: timestamps (as written, i.e. bar open time) and numeric columns.
#[derive(Clone, Debug)]
pub struct CsvTable {
    /// File name, for error messages.
    pub file: String,
    /// Column names after `timestamp`.
    pub columns: Vec<String>,
    /// Row timestamps as written in the file (bar open time).
    pub times: Vec<Hour>,
    /// `values[c][r]`: column `c`, row `r`; `None` for an empty cell.
    pub values: Vec<Vec<Option<f64>>>,
}

impl CsvTable {
    /// Parses CSV text. Pure; `file` is used only in error messages.
    pub fn parse(file: &str, text: &str) -> Result<CsvTable> {
        let mut lines = text.lines().enumerate();
        let header =
            lines.next().map(|(_, l)| l).ok_or_else(|| MarketDataError::MissingColumn { file: file.into(), column: "timestamp".into() })?;
        let names: Vec<&str> = header.trim().split(',').map(str::trim).collect();
        if names.first() != Some(&"timestamp") {
            return Err(MarketDataError::MissingColumn { file: file.into(), column: "timestamp".into() });
        }
        let columns: Vec<String> = names[1..].iter().map(|s| s.to_string()).collect();
        let mut times = Vec::new();
        let mut values: Vec<Vec<Option<f64>>> = vec![Vec::new(); columns.len()];
        for (idx, raw) in lines {
            let line = idx + 1;
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            if times.len() >= MAX_ROWS_PER_FILE {
                return Err(MarketDataError::TooManyRows { file: file.into(), limit: MAX_ROWS_PER_FILE });
            }
            let cells: Vec<&str> = raw.split(',').collect();
            if cells.len() != names.len() {
                return Err(MarketDataError::RowWidth { file: file.into(), line, expected: names.len(), found: cells.len() });
            }
            let t = parse_hour(cells[0].trim(), &format!("{file}:{line} column timestamp"))?;
            if let Some(prev) = times.last()
                && t <= *prev
            {
                return Err(MarketDataError::NonIncreasingTime { file: file.into(), line, timestamp: cells[0].into() });
            }
            times.push(t);
            for (c, cell) in cells[1..].iter().enumerate() {
                let cell = cell.trim();
                let v = if cell.is_empty() {
                    None
                } else {
                    let x: f64 = cell.parse().map_err(|_| MarketDataError::BadCell {
                        file: file.into(),
                        line,
                        column: columns[c].clone(),
                        text: cell.into(),
                    })?;
                    if !x.is_finite() {
                        return Err(MarketDataError::BadCell { file: file.into(), line, column: columns[c].clone(), text: cell.into() });
                    }
                    Some(x)
                };
                values[c].push(v);
            }
        }
        Ok(CsvTable { file: file.into(), columns, times, values })
    }

    /// Reads and parses a file.
    pub fn read(path: &Path) -> Result<CsvTable> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MarketDataError::FileUnreadable { file: path.to_path_buf(), reason: e.to_string() })?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        CsvTable::parse(&name, &text)
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Result<&[Option<f64>]> {
        self.columns
            .iter()
            .position(|c| c == name)
            .map(|i| self.values[i].as_slice())
            .ok_or_else(|| MarketDataError::MissingColumn { file: self.file.clone(), column: name.into() })
    }

    /// Observations of column `name`, stamped at row time + `shift_hours` (the bar length for OHLC
    /// bars, so the close is stamped when it is known; 0 for point samples such as funding prints).
    /// Empty cells are skipped. With `positive`, a non-positive value is an error (log prices need it).
    pub fn obs(&self, name: &str, shift_hours: i64, positive: bool) -> Result<Obs> {
        let col = self.column(name)?;
        let mut out = Obs::default();
        for (r, v) in col.iter().enumerate() {
            if let Some(x) = v {
                if positive && *x <= 0.0 {
                    return Err(MarketDataError::NonPositivePrice { file: self.file.clone(), line: r + 2, value: *x });
                }
                out.times.push(self.times[r].plus_hours(shift_hours));
                out.values.push(*x);
            }
        }
        Ok(out)
    }
}

/// A sparse series: values stamped at the instant they became known, strictly increasing times.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Obs {
    /// Observation instants.
    pub times: Vec<Hour>,
    /// Values, same length as `times`.
    pub values: Vec<f64>,
}

impl Obs {
    /// Last value known at or before `t`, with its time.
    pub fn at_or_before(&self, t: Hour) -> Option<(Hour, f64)> {
        let n = self.times.partition_point(|x| *x <= t);
        (n > 0).then(|| (self.times[n - 1], self.values[n - 1]))
    }

    /// First and last observation instants.
    pub fn span(&self) -> Option<(Hour, Hour)> {
        Some((*self.times.first()?, *self.times.last()?))
    }
}

/// A daily OHLC bar's range, for peg stress excursions: `(day open, low, high)`.
pub type DailyRange = Vec<(Hour, f64, f64)>;

/// Every raw series the panel is built from, already in observation-time convention.
/// Quote currencies are those of the source: `*_usdt` series are in USDT, `*_usd` in USD.
#[derive(Clone, Debug, Default)]
pub struct RawData {
    /// Binance spot closes in USDT (hourly), keyed by asset symbol: BTC, ETH, SOL, LINK, UNI, AAVE, LUNA.
    pub spot_usdt: Vec<(String, Obs)>,
    /// CoinMarketCap LUNA/USD daily closes.
    pub luna_usd_daily: Obs,
    /// CoinMarketCap daily closes (USD) of USDC, DAI, UST.
    pub usdc_usd_daily: Obs,
    /// DAI/USD daily close.
    pub dai_usd_daily: Obs,
    /// UST/USD daily close.
    pub ust_usd_daily: Obs,
    /// Daily low/high of USDC, DAI, UST (for stress excursions).
    pub usdc_range: DailyRange,
    /// DAI daily low/high.
    pub dai_range: DailyRange,
    /// UST daily low/high.
    pub ust_range: DailyRange,
    /// Binance UST/USDT hourly closes (May 2022 only).
    pub ust_usdt_hourly: Obs,
    /// Yahoo stETH/ETH ratio of daily closes.
    pub steth_eth_daily: Obs,
    /// Yahoo ETH/USD daily close (used for the USDT/USD construction).
    pub eth_usd_yahoo_daily: Obs,
    /// Deribit BTC index (USD), hourly samples.
    pub deribit_btc_index: Obs,
    /// Deribit BTC DVOL hourly close, in vol points (e.g. 84.9).
    pub btc_dvol: Obs,
    /// Binance perp funding per 8h (fraction), BTC.
    pub btc_funding_binance: Obs,
    /// Binance perp funding per 8h (fraction), ETH.
    pub eth_funding_binance: Obs,
    /// BitMEX XBTUSD funding per interval (fraction), with the interval in hours.
    pub btc_funding_bitmex: Obs,
    /// Binance USDT-margined perp hourly closes (USDT), BTC (two windows merged).
    pub btc_perp_usdt: Obs,
    /// Binance USDT-margined perp hourly closes (USDT), ETH (two windows merged).
    pub eth_perp_usdt: Obs,
}

/// Walks up from `start` looking for `shared/data/market` or `../shared/data/market` (the data lives
/// next to the workspace, e.g. `/work/shared/data/market` for the workspace `/work/main`).
pub fn find_data_dir_from(start: &Path) -> Result<PathBuf> {
    // The walk is bounded by the depth of `start`, and by 64 levels in any case.
    for d in start.ancestors().take(64) {
        for cand in [d.join("shared/data/market"), d.join("../shared/data/market")] {
            if cand.is_dir() {
                return Ok(cand);
            }
        }
    }
    Err(MarketDataError::DataDirNotFound { searched_from: start.to_path_buf() })
}

/// The market-data directory: `$CLEARHOUSE_MARKET_DATA` if set (it must exist), else
/// [`find_data_dir_from`] the current directory, then from this crate's manifest directory.
pub fn find_data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV) {
        let p = PathBuf::from(dir);
        return if p.is_dir() { Ok(p) } else { Err(MarketDataError::DataDirNotFound { searched_from: p }) };
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    find_data_dir_from(&cwd).or_else(|_| find_data_dir_from(Path::new(env!("CARGO_MANIFEST_DIR"))))
}

fn merge(mut a: Obs, b: Obs) -> Obs {
    // Used for the two disjoint perp windows; sorted merge keeps times strictly increasing.
    let mut pairs: Vec<(Hour, f64)> = a.times.drain(..).zip(a.values.drain(..)).chain(b.times.into_iter().zip(b.values)).collect();
    pairs.sort_by_key(|p| p.0);
    pairs.dedup_by_key(|p| p.0);
    Obs { times: pairs.iter().map(|p| p.0).collect(), values: pairs.iter().map(|p| p.1).collect() }
}

fn range(t: &CsvTable) -> Result<DailyRange> {
    let lo = t.column("low")?;
    let hi = t.column("high")?;
    Ok(t.times.iter().zip(lo.iter().zip(hi)).filter_map(|(tm, (l, h))| Some((*tm, (*l)?, (*h)?))).collect())
}

/// Reads every file the panel needs from `dir`.
pub fn load_raw(dir: &Path) -> Result<RawData> {
    let rd = |name: &str| CsvTable::read(&dir.join(name));
    let mut raw = RawData::default();
    for (sym, file) in [
        ("BTC", "btc_usdt_binance_2019-2024_1h.csv"),
        ("ETH", "eth_usdt_binance_2019-2024_1h.csv"),
        ("SOL", "sol_usdt_binance_2020-2024_1h.csv"),
        ("LINK", "link_usdt_binance_2019-2024_1h.csv"),
        ("UNI", "uni_usdt_binance_2020-2024_1h.csv"),
        ("AAVE", "aave_usdt_binance_2020-2024_1h.csv"),
        ("LUNA", "luna_usdt_binance_2020-2022_1h.csv"),
    ] {
        let mut o = rd(file)?.obs("close", 1, true)?;
        if sym == "UNI" && !o.times.is_empty() {
            // SOURCES.md: the first UNI bar is the listing spike (open 0.3 / high 15); drop it.
            o.times.remove(0);
            o.values.remove(0);
        }
        raw.spot_usdt.push((sym.to_string(), o));
    }
    raw.luna_usd_daily = rd("luna_usd_cmc_2019-2022_1d.csv")?.obs("close", 24, true)?;
    let usdc = rd("usdc_usd_cmc_2018-2024_1d.csv")?;
    raw.usdc_usd_daily = usdc.obs("close", 24, true)?;
    raw.usdc_range = range(&usdc)?;
    let dai = rd("dai_usd_cmc_2019-2024_1d.csv")?;
    raw.dai_usd_daily = dai.obs("close", 24, true)?;
    raw.dai_range = range(&dai)?;
    let ust = rd("ust_usd_cmc_2020-2022_1d.csv")?;
    raw.ust_usd_daily = ust.obs("close", 24, true)?;
    raw.ust_range = range(&ust)?;
    raw.ust_usdt_hourly = rd("ust_usdt_binance_2022-05_1h.csv")?.obs("close", 1, true)?;
    let st = rd("steth_eth_ratio_yahoo_2020-2024_1d.csv")?;
    raw.steth_eth_daily = st.obs("steth_eth_close_ratio", 24, true)?;
    raw.eth_usd_yahoo_daily = st.obs("eth_usd_close", 24, true)?;
    let der = rd("btc_perp_funding_deribit_2019-2021_1h.csv")?;
    raw.deribit_btc_index = der.obs("index_price", 0, true)?;
    raw.btc_dvol = rd("btc_dvol_deribit_2021-2025_1h.csv")?.obs("close", 1, true)?;
    raw.btc_funding_binance = rd("btc_usdt_perp_funding_binance_2019-2026_8h.csv")?.obs("funding_rate", 0, false)?;
    raw.eth_funding_binance = rd("eth_usdt_perp_funding_binance_2019-2026_8h.csv")?.obs("funding_rate", 0, false)?;
    raw.btc_funding_bitmex = rd("xbtusd_funding_bitmex_2016-2020_8h.csv")?.obs("funding_rate", 0, false)?;
    raw.btc_perp_usdt = merge(
        rd("btc_usdt_perp_binance_2020-03_1h.csv")?.obs("close", 1, true)?,
        rd("btc_usdt_perp_binance_2022-11_1h.csv")?.obs("close", 1, true)?,
    );
    raw.eth_perp_usdt = merge(
        rd("eth_usdt_perp_binance_2020-03_1h.csv")?.obs("close", 1, true)?,
        rd("eth_usdt_perp_binance_2022-11_1h.csv")?.obs("close", 1, true)?,
    );
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_line_numbers() {
        let t = CsvTable::parse("x.csv", "timestamp,open,close\n2020-01-01T00:00:00Z,1,2\n2020-01-01T01:00:00Z,,3\n").unwrap();
        assert_eq!(t.times.len(), 2);
        assert_eq!(t.column("open").unwrap(), &[Some(1.0), None]);
        let o = t.obs("close", 1, true).unwrap();
        assert_eq!(o.times[0], Hour::from_ymdh(2020, 1, 1, 1));
        let e = CsvTable::parse("x.csv", "timestamp,close\n2020-01-01T00:00:00Z,1\n2020-01-01T01:00:00Z,abc\n").unwrap_err();
        assert!(matches!(e, MarketDataError::BadCell { line: 3, .. }), "{e}");
        let e = CsvTable::parse("x.csv", "timestamp,close\n2020-01-01T01:00:00Z,1\n2020-01-01T00:00:00Z,2\n").unwrap_err();
        assert!(matches!(e, MarketDataError::NonIncreasingTime { line: 3, .. }), "{e}");
        let e = CsvTable::parse("x.csv", "timestamp,close\n2020-01-01T01:00:00Z,1,4\n").unwrap_err();
        assert!(matches!(e, MarketDataError::RowWidth { line: 2, .. }), "{e}");
        let e = t.obs("nope", 0, false).unwrap_err();
        assert!(matches!(e, MarketDataError::MissingColumn { .. }));
        let e = CsvTable::parse("x.csv", "timestamp,close\n2020-01-01T01:00:00Z,-1\n").unwrap().obs("close", 0, true).unwrap_err();
        assert!(matches!(e, MarketDataError::NonPositivePrice { line: 2, .. }));
    }

    #[test]
    fn finds_the_data_dir_by_walking_up_and_names_missing_files() {
        let root = std::env::temp_dir().join(format!("marketdata-find-{}", std::process::id()));
        let data = root.join("shared/data/market");
        let deep = root.join("main/crates/x");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&deep).unwrap();
        let found = find_data_dir_from(&deep).unwrap();
        assert_eq!(found.canonicalize().unwrap(), data.canonicalize().unwrap());
        // `../shared/data/market` relative to a workspace root also counts.
        assert!(find_data_dir_from(&root.join("main")).is_ok());
        // The directory is empty, so loading names the first missing file.
        match load_raw(&found) {
            Err(MarketDataError::FileUnreadable { file, .. }) => {
                assert!(file.ends_with("btc_usdt_binance_2019-2024_1h.csv"), "{}", file.display())
            }
            other => panic!("expected FileUnreadable, got {other:?}"),
        }
        std::fs::remove_dir_all(&root).unwrap();
        assert!(find_data_dir_from(Path::new("/")).is_err() || Path::new("/shared/data/market").is_dir());
    }

    /// Finding 10 (market-data CSV): an impossible timestamp is refused naming file, line and value;
    /// before jiff, 2023-02-31 was read as 2023-03-03 and the row silently moved.
    #[test]
    fn csv_timestamps_with_impossible_dates_are_refused() {
        for bad in ["2023-02-31T00:00:00Z", "2024-02-30T00:00:00Z", "2023-13-01T00:00:00Z", "2023-03-01T24:00:00Z"] {
            let text = format!("timestamp,close\n2023-02-28T23:00:00Z,1\n{bad},2\n");
            match CsvTable::parse("x.csv", &text) {
                Err(MarketDataError::InvalidDate { origin, value, .. }) => {
                    assert_eq!((origin.as_str(), value.as_str()), ("x.csv:3 column timestamp", bad))
                }
                other => panic!("{bad}: expected InvalidDate, got {other:?}"),
            }
        }
    }

    #[test]
    fn at_or_before() {
        let o = Obs { times: vec![Hour(10), Hour(20)], values: vec![1.0, 2.0] };
        assert_eq!(o.at_or_before(Hour(9)), None);
        assert_eq!(o.at_or_before(Hour(10)), Some((Hour(10), 1.0)));
        assert_eq!(o.at_or_before(Hour(19)), Some((Hour(10), 1.0)));
        assert_eq!(o.at_or_before(Hour(25)), Some((Hour(20), 2.0)));
    }
}
