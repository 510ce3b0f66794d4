//! Shared by every test (and bench) that needs the raw market history, in this crate and others.
//!
//! A test that needs something absent may skip on a laptop, loudly, but must fail under CI: a
//! green CI run that skipped its checks would be a lie. [`market_data_or_skip`] is the one place that
//! decides, so no test carries its own copy of the rule.

use crate::error::Result;
use crate::loader::{DATA_DIR_ENV, find_data_dir};
use std::ffi::OsString;
use std::path::PathBuf;

/// The environment variable that marks a CI run. Set to any value (GitHub, GitLab and most CI
/// services set `CI=true`), it turns a missing data directory from a skip into a failure.
pub const CI_ENV: &str = "CI";

/// The market-data directory, or `None` after printing `SKIPPED: ...` on stderr when it is absent
/// outside CI. Under CI (`CI` set) an absent directory panics, failing the calling test with a
/// message that says what is missing and how to provide it.
///
/// ```no_run
/// let Some(dir) = marketdata::test_support::market_data_or_skip() else { return };
/// let panel = marketdata::FactorPanel::load(&dir).unwrap();
/// # let _ = panel;
/// ```
pub fn market_data_or_skip() -> Option<PathBuf> {
    let thread = std::thread::current();
    // libtest names each test's thread after the test.
    let test = thread.name().unwrap_or("this test");
    decide(find_data_dir(), std::env::var_os(CI_ENV), test)
}

/// The rule of [`market_data_or_skip`], with the lookup result and the `CI` variable passed in so
/// that it can be tested without touching the process environment.
pub fn decide(found: Result<PathBuf>, ci: Option<OsString>, test: &str) -> Option<PathBuf> {
    match (found, ci) {
        (Ok(dir), _) => Some(dir),
        (Err(e), Some(ci)) => panic!(
            "{test}: the raw market data is required when {CI_ENV} is set ({CI_ENV}={ci:?}), and it is missing: {e}. \
             Provide it with {DATA_DIR_ENV}=DIR; a CI run must not skip these checks."
        ),
        (Err(e), None) => {
            eprintln!("SKIPPED: {test}: raw market data absent ({e}); set {DATA_DIR_ENV}=DIR to run it (under CI this fails)");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MarketDataError;

    fn missing() -> Result<PathBuf> {
        Err(MarketDataError::DataDirNotFound { searched_from: PathBuf::from("/nonexistent/market") })
    }

    #[test]
    #[should_panic(
        expected = "t: the raw market data is required when CI is set (CI=\"true\"), and it is missing: market data directory not found"
    )]
    fn under_ci_a_missing_directory_fails_the_test() {
        decide(missing(), Some("true".into()), "t");
    }

    #[test]
    fn outside_ci_a_missing_directory_skips() {
        assert_eq!(decide(missing(), None, "t"), None);
    }

    #[test]
    fn a_present_directory_is_used_in_and_outside_ci() {
        let dir = PathBuf::from("/data");
        assert_eq!(decide(Ok(dir.clone()), Some("1".into()), "t"), Some(dir.clone()));
        assert_eq!(decide(Ok(dir.clone()), None, "t"), Some(dir));
    }
}
