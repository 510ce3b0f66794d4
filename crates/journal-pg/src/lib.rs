//! # journal-pg: the PostgreSQL backend of the clearhouse journal
//!
//! [`PgJournal`] implements [`journal::JournalStore`] on a PostgreSQL database with exactly the semantics
//! of the embedded SQLite backend ([`journal::SqliteJournal`]): the same record, batch, head and snapshot
//! rows, the same hash chain and checksums (computed by [`journal::chain`], format version
//! [`journal::FORMAT_VERSION`]), the same verification on recovery and the same typed
//! [`journal::JournalError`]s. A journal written by either backend recovers to the same
//! [`journal::Recovery`] value, chain hashes included.
//!
//! What this crate must never do:
//! - acknowledge a batch before PostgreSQL has flushed its commit record to disk: `synchronous_commit`
//!   is set to `on` for the session and read back, and the server's `fsync` must be `on`, or opening fails;
//! - let two writers interleave on one journal: a session-level advisory lock, taken at open and held until
//!   the connection closes, makes a second writer fail with [`journal::JournalError::Locked`], and every
//!   batch transaction additionally compares-and-swaps the head row (which row-locks it);
//! - interpret, repair, skip or truncate anything: damage is reported, as in the SQLite backend;
//! - delete or rewrite committed records (only snapshots beyond the retention are pruned);
//! - leak `postgres` types through the trait: errors are flattened into [`journal::JournalError`].
//!
//! Invariants (the journal's, see `docs/journal.md`, plus this backend's):
//! - one batch is one transaction holding its records, its batch row and the head update;
//! - the tables of one journal live in one PostgreSQL schema named in [`PgConfig::schema`], so several
//!   journals can share a database; the schema's `meta` table records the format version;
//! - recovery reads inside one REPEATABLE READ, READ ONLY transaction, so it sees one consistent state.
//!
//! See `docs/journal-postgres.md` for the schema, the locking argument and measured figures.

mod pg;

pub use pg::{PgConfig, PgJournal};
