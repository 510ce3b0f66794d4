//! The journal conformance suite (`journal::conformance`) on the PostgreSQL backend: one schema per check
//! on the test server (see `common`), tampering through a second session. Without PostgreSQL the checks
//! print SKIPPED and pass, unless `CI` is set, where they fail.

mod common;

use common::TestDb;
use journal::conformance::{Backend, Param};
use journal::{JournalConfig, JournalError, JournalStore};
use journal_pg::PgJournal;
use postgres::types::ToSql;

struct Pg(TestDb);

fn new(name: &str) -> Option<Box<dyn Backend>> {
    TestDb::new(name).map(|db| Box::new(Pg(db)) as Box<dyn Backend>)
}

/// `location` is the connection string and the schema, on two lines.
fn reopen(location: &str) -> Box<dyn Backend> {
    let (conninfo, schema) = location.rsplit_once('\n').expect("conninfo and schema");
    // The crash child never initialises the test server, so dropping this TestDb drops nothing.
    Box::new(Pg(TestDb::existing(conninfo.to_string(), schema.to_string())))
}

impl Backend for Pg {
    fn open(&self, config: JournalConfig) -> Result<Box<dyn JournalStore>, JournalError> {
        Ok(Box::new(self.0.try_open(config)?))
    }

    fn open_read_only(&self, config: JournalConfig) -> Result<Box<dyn JournalStore>, JournalError> {
        Ok(Box::new(PgJournal::open_read_only(&self.0.pg_config(), config)?))
    }

    fn execute(&self, sql: &str, params: &[Param]) -> u64 {
        let values: Vec<Box<dyn ToSql + Sync>> = params
            .iter()
            .map(|p| match p {
                Param::Int(v) => Box::new(*v) as Box<dyn ToSql + Sync>,
                Param::Blob(b) => Box::new(b.clone()),
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        let mut c = self.0.raw();
        c.batch_execute(&format!("SET search_path = {}", self.0.schema)).expect("search_path");
        c.execute(sql, &refs).expect("tamper")
    }

    fn read_blob(&self, sql: &str, key: i64) -> Vec<u8> {
        self.0.read_blob(sql, key)
    }

    fn create_foreign_table(&self) {
        self.0.raw().batch_execute(&format!("CREATE SCHEMA {s}; CREATE TABLE {s}.accounts (id int)", s = self.0.schema)).expect("create");
    }

    fn location(&self) -> String {
        format!("{}\n{}", self.0.conninfo, self.0.schema)
    }

    fn groups_atomically(&self) -> bool {
        false
    }
}

journal::conformance_tests!(new, reopen);
