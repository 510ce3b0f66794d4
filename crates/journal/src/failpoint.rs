//! Crash injection for tests: abort the process at the n-th hit of a named failpoint.
//!
//! Configured once per process from the environment variable [`ENV_VAR`] (`CLEARHOUSE_CRASH_AT`) of the
//! form `<name>:<n>`, e.g. `journal.before_commit:3` aborts (with [`std::process::abort`], so no
//! destructors, no flushing: the closest a test can get to pulling the plug) at the third call of
//! `hit("journal.before_commit")`. Without the variable every [`hit`] is a single atomic load and a branch.
//!
//! Any crate may place its own failpoints; names are free-form. The journal's are listed in [`names`].
//! A malformed value is reported once on stderr and then ignored, because a stray environment variable
//! must not take a production process down; crash tests notice because the expected abort does not happen.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::JournalError;

/// The environment variable read (once) to arm a failpoint.
pub const ENV_VAR: &str = "CLEARHOUSE_CRASH_AT";

/// Failpoints placed inside this crate.
pub mod names {
    /// In `append_batch`, after half of the batch's records are inserted, before the batch and head rows.
    pub const MID_BATCH: &str = "journal.mid_batch";
    /// In `append_batch`, after all rows are written, just before COMMIT.
    pub const BEFORE_COMMIT: &str = "journal.before_commit";
    /// In `append_batch`, right after COMMIT returned (the batch is durable, the caller not yet told).
    pub const AFTER_COMMIT: &str = "journal.after_commit";
    /// In `write_snapshot`, after the snapshot row is written, before COMMIT.
    pub const MID_SNAPSHOT: &str = "journal.mid_snapshot";
    /// In `write_snapshot`, after each chunk row beyond the first, before COMMIT.
    pub const MID_SNAPSHOT_CHUNKS: &str = "journal.mid_snapshot_chunks";
}

/// An armed failpoint: abort at the `nth` hit of `name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashSpec {
    pub name: String,
    /// 1-based.
    pub nth: u64,
}

static SPEC: OnceLock<Option<CrashSpec>> = OnceLock::new();
static HITS: AtomicU64 = AtomicU64::new(0);

/// Parses `<name>:<n>` with a non-empty name and `n >= 1`. The name may itself contain `:`; the count is
/// after the last one.
pub fn parse_spec(spec: &str) -> Result<CrashSpec, JournalError> {
    let invalid = || JournalError::FailpointSpecInvalid { spec: spec.to_owned() };
    let (name, count) = spec.trim().rsplit_once(':').ok_or_else(invalid)?;
    let nth: u64 = count.parse().map_err(|_| invalid())?;
    if name.is_empty() || nth == 0 {
        return Err(invalid());
    }
    Ok(CrashSpec { name: name.to_owned(), nth })
}

fn spec_from_env() -> Option<CrashSpec> {
    let raw = std::env::var(ENV_VAR).ok()?;
    match parse_spec(&raw) {
        Ok(spec) => Some(spec),
        Err(err) => {
            eprintln!("{ENV_VAR} ignored: {err}");
            None
        }
    }
}

/// The failpoint armed in this process, if any.
pub fn armed() -> Option<&'static CrashSpec> {
    SPEC.get_or_init(spec_from_env).as_ref()
}

/// Marks that execution reached failpoint `name`; aborts the process if this is the armed failpoint's n-th
/// hit.
#[inline]
pub fn hit(name: &str) {
    if let Some(spec) = armed() {
        hit_armed(spec, name);
    }
}

#[cold]
fn hit_armed(spec: &CrashSpec, name: &str) {
    if spec.name != name {
        return;
    }
    let n = HITS.fetch_add(1, Ordering::SeqCst) + 1;
    if n == spec.nth {
        eprintln!("failpoint {name} hit {n} time(s): aborting as requested by {ENV_VAR}");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_and_count() {
        assert_eq!(parse_spec("journal.mid_batch:3").ok(), Some(CrashSpec { name: "journal.mid_batch".into(), nth: 3 }));
        assert_eq!(parse_spec("a:b:2").ok().map(|s| s.name), Some("a:b".into()));
    }

    #[test]
    fn rejects_malformed_specs() {
        for bad in ["", "journal.mid_batch", ":1", "x:0", "x:-1", "x:one"] {
            assert!(matches!(parse_spec(bad), Err(JournalError::FailpointSpecInvalid { .. })), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn unarmed_hit_is_a_no_op() {
        // The unit-test process never sets the variable for itself, so this must return.
        if std::env::var(ENV_VAR).is_err() {
            hit(names::BEFORE_COMMIT);
            assert!(armed().is_none());
        }
    }
}
