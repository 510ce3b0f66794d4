//! The journal read back, read-only, beside the writer: at start, the statement index (every
//! account's statement, as the `statement` crate builds it) and the fills and trades history
//! rebuilt from the journalled events so a restart keeps them (bounded like the live window);
//! and a fresh statement of one account read from the journal (`clearhouse statement --json`),
//! the reference the index is tested against.
//!
//! Reading verifies the hash chain from genesis; a journal beyond [`RECORDS_READ_MAX`] records
//! is refused with a pointer to the offline command rather than read into memory.

use crate::error::{Result, ServerError};
use engine::{Envelope, Outcome};
use journal::{JournalConfig, JournalStore, SqliteJournal};
use std::path::PathBuf;

/// Records read back at most (statements and the history rebuild).
pub const RECORDS_READ_MAX: u64 = 2_000_000;
/// Statement lines the server's index keeps, over all accounts (about 200 bytes each).
pub const STATEMENT_INDEX_LINES_MAX: usize = statement::INDEX_LINES_MAX_DEFAULT;
/// Records whose events rebuild the history at start (the newest ones).
pub const HISTORY_REBUILD_RECORDS_MAX: u64 = 200_000;

/// Where the journal is, to open it again read-only.
#[derive(Debug, Clone)]
pub enum JournalSource {
    Sqlite(PathBuf),
    Postgres { conninfo: String, schema: String },
}

fn journal_error(e: impl std::fmt::Display) -> ServerError {
    ServerError::Journal { detail: format!("reading the journal back: {e}") }
}

impl JournalSource {
    fn open(&self) -> Result<Box<dyn JournalStore>> {
        Ok(match self {
            JournalSource::Sqlite(path) => Box::new(SqliteJournal::open_read_only(path, JournalConfig::default()).map_err(journal_error)?),
            JournalSource::Postgres { conninfo, schema } => {
                let config = journal_pg::PgConfig::new(conninfo.clone(), schema.clone());
                Box::new(journal_pg::PgJournal::open_read_only(&config, JournalConfig::default()).map_err(journal_error)?)
            }
        })
    }

    /// Every journalled (seq, command, outcome) with `from <= seq <= up_to`, in order.
    pub fn records(&self, from: u64, up_to: u64) -> Result<Vec<(u64, Envelope, Outcome)>> {
        let mut journal = self.open()?;
        if journal.last_seq().0 > RECORDS_READ_MAX {
            return Err(ServerError::Margin {
                detail: format!("the journal has more than {RECORDS_READ_MAX} records; use `clearhouse statement` offline"),
            });
        }
        let recovery = journal.recover_from_genesis().map_err(journal_error)?;
        let mut out = Vec::new();
        for record in recovery.batches.iter().flat_map(|b| &b.records).filter(|r| r.seq.0 >= from && r.seq.0 <= up_to) {
            let envelope: Envelope = serde_json::from_slice(&record.command).map_err(journal_error)?;
            let outcome: Outcome = serde_json::from_slice(&record.result).map_err(journal_error)?;
            out.push((record.seq.0, envelope, outcome));
        }
        Ok(out)
    }
}

/// The statement of `account` from the records up to `up_to`, reconciled with `ledger` (the
/// engine's balances at that same seq).
pub fn statement(source: &JournalSource, account: &str, up_to: u64, ledger: &[engine::BalanceRow]) -> Result<statement::Statement> {
    let mut builder = statement::StatementBuilder::new(account);
    for (_, envelope, outcome) in source.records(0, up_to)? {
        builder.record(&envelope.command, &outcome).map_err(|e| ServerError::internal(format!("statement: {e}")))?;
    }
    let statement = builder.finish();
    // A mismatch is a broken invariant of the ledger or of the statement: never served.
    statement.reconcile(ledger).map_err(|e| ServerError::internal(format!("statement: {e}")))?;
    Ok(statement)
}

/// The history window rebuilt from the newest journalled events, and the statement index
/// rebuilt from every record, in one read of the journal up to `last_seq`.
pub fn rebuild(source: &JournalSource, last_seq: u64) -> Result<(crate::history::History, statement::StatementIndex)> {
    let mut history = crate::history::History::default();
    let mut index = statement::StatementIndex::new(STATEMENT_INDEX_LINES_MAX);
    let history_from = last_seq.saturating_sub(HISTORY_REBUILD_RECORDS_MAX);
    for (seq, envelope, outcome) in source.records(0, last_seq)? {
        // A stopped index refuses statements with its reason; the start goes on.
        if !index.is_stopped()
            && let Err(e) = index.record(seq, &envelope.command, &outcome)
        {
            tracing::warn!(error = %e, "the statement index stopped while rebuilding");
        }
        if seq < history_from {
            continue;
        }
        if let Outcome::Applied { events, .. } = outcome {
            let events: Vec<_> = events.into_iter().map(|e| (seq, e)).collect();
            history.record(&events);
        }
    }
    Ok((history, index))
}
