//! Prometheus text exposition (format 0.0.4), written here rather than pulled in: a few
//! counters, gauges and fixed-bucket histograms behind one mutex each. Labels are route
//! templates (`/v1/accounts/{account}/balances`), never raw paths, so their number is bounded
//! by the route table.

use node::Ack;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, seconds.
pub const BUCKETS_SECONDS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS_SECONDS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS_SECONDS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in BUCKETS_SECONDS.iter().zip(self.counts.iter()) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// method -> route template -> status -> count.
type RequestCounts = BTreeMap<String, BTreeMap<String, BTreeMap<u16, u64>>>;

#[derive(Debug, Default)]
pub struct Metrics {
    /// method -> route template -> status -> count (nested so that counting a request allocates
    /// nothing once its method, route and status were seen).
    requests: Mutex<RequestCounts>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    commands: Mutex<BTreeMap<&'static str, u64>>,
    commit: Mutex<Histogram>,
    queue_depth: AtomicI64,
}

/// The value at `key`, inserted as the default when missing (the key is copied only then;
/// `None` is impossible: the key is in the map when it is looked up).
fn entry<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> Option<&'m mut V> {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key)
}

/// "Near liquidation": equity below maintenance margin times (1 + this / 100).
pub const NEAR_MM_PERCENT: i128 = 10;
/// Accounts margined per scrape for the near-maintenance gauge.
pub const NEAR_SCAN_ACCOUNTS_MAX: usize = 256;

/// Values read from the engine at scrape time.
pub struct Gauges {
    pub last_seq: u64,
    pub engine_time_ms: u64,
    /// `None` without an `@insurance` account or a price for its holdings (no gauge, never 0).
    pub insurance_fund_usd: Option<f64>,
    /// Accounts flagged reduce-only and liquidation by the engine's health step.
    pub accounts_reduce_only: u64,
    pub accounts_liquidation: u64,
    /// Accounts whose equity is within [`NEAR_MM_PERCENT`]% above maintenance margin (of the
    /// first [`NEAR_SCAN_ACCOUNTS_MAX`]); `None` without a usable engine margin.
    pub accounts_near_maintenance: Option<u64>,
    pub trader_accounts: u64,
    pub stream_subscribers: u64,
}

impl Metrics {
    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut r) = self.requests.lock()
            && let Some(statuses) = entry(&mut r, method).and_then(|routes| entry(routes, route))
        {
            *statuses.entry(status).or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock()
            && let Some(h) = entry(&mut l, route)
        {
            h.observe(elapsed.as_secs_f64());
        }
    }

    pub fn command(&self, ack: &Ack, queued_for: Duration) {
        let outcome = match (&ack.outcome, ack.duplicate) {
            (_, true) => "duplicate",
            (engine::Outcome::Applied { .. }, _) => "applied",
            (engine::Outcome::Rejected { .. }, _) => "rejected",
            _ => "refused",
        };
        if let Ok(mut c) = self.commands.lock() {
            *c.entry(outcome).or_default() += 1;
        }
        if let Ok(mut h) = self.commit.lock() {
            h.observe(queued_for.as_secs_f64());
        }
    }

    pub fn queue_depth_add(&self, delta: i64) {
        self.queue_depth.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        out.push_str("# HELP clearhouse_http_requests_total HTTP requests by method, route template and status.\n");
        out.push_str("# TYPE clearhouse_http_requests_total counter\n");
        if let Ok(r) = self.requests.lock() {
            for (method, routes) in r.iter() {
                for (route, statuses) in routes {
                    for (status, n) in statuses {
                        let _ = writeln!(
                            out,
                            "clearhouse_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                        );
                    }
                }
            }
        }
        out.push_str("# HELP clearhouse_http_request_duration_seconds Time from request to response, by route template.\n");
        out.push_str("# TYPE clearhouse_http_request_duration_seconds histogram\n");
        if let Ok(l) = self.latency.lock() {
            for (route, h) in l.iter() {
                h.write(&mut out, "clearhouse_http_request_duration_seconds", &format!("route=\"{route}\""));
            }
        }
        out.push_str("# HELP clearhouse_commands_total Commands answered by the node, by outcome.\n");
        out.push_str("# TYPE clearhouse_commands_total counter\n");
        if let Ok(c) = self.commands.lock() {
            for (outcome, n) in c.iter() {
                let _ = writeln!(out, "clearhouse_commands_total{{outcome=\"{outcome}\"}} {n}");
            }
        }
        out.push_str("# HELP clearhouse_journal_lag_seconds Time from a command's arrival at the writer's queue to its durable commit.\n");
        out.push_str("# TYPE clearhouse_journal_lag_seconds histogram\n");
        if let Ok(h) = self.commit.lock() {
            h.write(&mut out, "clearhouse_journal_lag_seconds", "");
        }
        let gauge = |out: &mut String, name: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        };
        gauge(&mut out, "clearhouse_queue_depth", "Commands queued for the writer.", self.queue_depth.load(Ordering::Relaxed).to_string());
        gauge(&mut out, "clearhouse_journal_last_seq", "Sequence number of the last journalled command.", gauges.last_seq.to_string());
        gauge(&mut out, "clearhouse_engine_time_ms", "The engine's clock (advance_time), Unix ms.", gauges.engine_time_ms.to_string());
        let configured = u8::from(gauges.insurance_fund_usd.is_some()).to_string();
        gauge(&mut out, "clearhouse_insurance_fund_configured", "1 when the insurance fund exists and is priced.", configured);
        if let Some(usd) = gauges.insurance_fund_usd {
            gauge(
                &mut out,
                "clearhouse_insurance_fund_usd",
                "Insurance fund at the engine's prices (f64 of the exact value).",
                usd.to_string(),
            );
        }
        out.push_str("# HELP clearhouse_accounts_near_liquidation Accounts by engine health flag, and within NEAR_MM_PERCENT of maintenance margin.\n");
        out.push_str("# TYPE clearhouse_accounts_near_liquidation gauge\n");
        let _ = writeln!(out, "clearhouse_accounts_near_liquidation{{state=\"reduce_only\"}} {}", gauges.accounts_reduce_only);
        let _ = writeln!(out, "clearhouse_accounts_near_liquidation{{state=\"liquidation\"}} {}", gauges.accounts_liquidation);
        if let Some(n) = gauges.accounts_near_maintenance {
            let _ = writeln!(out, "clearhouse_accounts_near_liquidation{{state=\"within_{NEAR_MM_PERCENT}pct_of_mm\"}} {n}");
        }
        gauge(&mut out, "clearhouse_trader_accounts", "Trader accounts open.", gauges.trader_accounts.to_string());
        gauge(&mut out, "clearhouse_stream_subscribers", "WebSocket subscribers connected.", gauges.stream_subscribers.to_string());
        out
    }
}
