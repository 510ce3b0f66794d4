//! Backtest (in progress).
