//! Damage below the rows: bytes of a heap page flipped on disk, a table file truncated. PostgreSQL's page
//! checksums (the harness runs `initdb -k`) and amcheck must surface it, and the journal must report it as
//! corruption (`StorageCorrupt`), never as a clean recovery. This binary restarts its own server, so it
//! runs only against the local throwaway cluster (skipped with `CLEARHOUSE_TEST_PG_URL`); its tests take
//! turns (`SERIAL`) because each restarts the server.

mod common;

use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use common::{TestDb, make_batches};
use journal::{JournalConfig, JournalError, JournalStore};

/// Tests of this binary restart the shared server, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// 3000 records in 30 batches (about 120 heap pages of records), journal closed; returns the records
/// table's file path relative to the data directory.
fn filled(db: &TestDb) -> String {
    let mut j = db.open();
    for b in make_batches(1, &[100; 30], 40) {
        b.append(&mut j).expect("append");
    }
    j.close().expect("close");
    db.raw().query_one(&format!("SELECT pg_relation_filepath('{}.records')", db.schema), &[]).expect("file path").get(0)
}

fn recover(db: &TestDb, storage_check_on_recover: bool) -> Result<journal::Recovery, JournalError> {
    db.try_open(JournalConfig { storage_check_on_recover, ..JournalConfig::default() }).and_then(|mut j| j.recover())
}

#[test]
fn damaged_and_truncated_table_files_are_reported_as_corrupt_storage() {
    let _turn = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let flipped = pg_or_skip!("flipped_page");
    let truncated = TestDb::new("truncated_file").expect("server is up");
    let flipped_file = filled(&flipped);
    let truncated_file = filled(&truncated);
    let restarted = common::with_local_server(|server| {
        server.restart_with(|data| {
            // Flip 64 bytes inside heap page 10 (8 KiB pages): its checksum no longer matches.
            let f = std::fs::OpenOptions::new().read(true).write(true).open(data.join(&flipped_file)).expect("open heap file");
            let mut bytes = [0u8; 64];
            let at = 10 * 8192 + 4000;
            f.read_exact_at(&mut bytes, at).expect("read page bytes");
            for b in &mut bytes {
                *b ^= 0x5A;
            }
            f.write_all_at(&bytes, at).expect("write page bytes");
            f.sync_all().expect("sync");
            // Cut the other journal's records file in half.
            let f = std::fs::OpenOptions::new().write(true).open(data.join(&truncated_file)).expect("open heap file");
            let len = f.metadata().expect("metadata").len();
            assert!(len >= 40 * 8192, "records file unexpectedly small: {len}");
            f.set_len(len / 2).expect("truncate");
            f.sync_all().expect("sync");
        })
    });
    match restarted {
        None => {
            eprintln!("SKIPPED: external server, its files are not ours to damage");
            return;
        }
        Some(result) => result.expect("restart the server"),
    }
    for storage_check in [true, false] {
        let err = recover(&flipped, storage_check).expect_err("a damaged page must not recover");
        eprintln!("flipped, storage_check={storage_check}: {err}");
        assert!(matches!(err, JournalError::StorageCorrupt { .. }), "storage_check={storage_check}: {err:?}");
        let err = recover(&truncated, storage_check).expect_err("a truncated table must not recover");
        eprintln!("truncated, storage_check={storage_check}: {err}");
        assert!(matches!(err, JournalError::StorageCorrupt { .. }), "storage_check={storage_check}: {err:?}");
    }
}

#[test]
fn a_server_running_with_fsync_off_is_refused() {
    // fsync is a server-wide setting no session can change: a journal must not open on such a server,
    // since its COMMITs would not reach the disk.
    let _turn = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let db = pg_or_skip!("fsync_off");
    drop(db.open());
    let Some(result) = common::with_local_server(|server| server.restart_with_options("-c fsync=off")) else {
        eprintln!("SKIPPED: external server, not ours to restart");
        return;
    };
    result.expect("restart with fsync=off");
    let refused = db.try_open(JournalConfig::default()).map(|_| ());
    let restored = common::with_local_server(|server| server.restart_with_options("")).expect("local server");
    restored.expect("restart with fsync=on");
    assert_eq!(refused, Err(JournalError::DurabilitySettingRefused { pragma: "fsync", wanted: "on", got: "off".into() }));
    db.open();
}
