//! The broker on a PostgreSQL journal: `clearhouse --postgres CONNINFO run` against a real,
//! throwaway PostgreSQL cluster (the journal-pg test harness starts it with initdb/pg_ctl on a
//! loopback port), restarted and verified in fresh processes, must reach the same state hash as
//! the embedded SQLite journal on the same commands.

#[path = "../../journal-pg/tests/common/server.rs"]
mod server;

use std::process::{Command, Output};

fn clearhouse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clearhouse")).args(args).output().expect("run clearhouse")
}

fn state_hash(output: &Output) -> String {
    assert!(output.status.success(), "clearhouse failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().find(|l| l.starts_with("state hash ")).expect("state hash printed").to_string()
}

#[test]
fn postgres_journal_recovers_to_the_same_state_as_sqlite() {
    let Some(bin) = server::find_bin_dir() else {
        assert!(std::env::var_os("CI").is_none(), "CI is set but PostgreSQL is not installed (apt-get install -y postgresql)");
        eprintln!("SKIPPED: no PostgreSQL");
        return;
    };
    let pg = server::PgServer::start(&bin).expect("start PostgreSQL");
    let conninfo = pg.conninfo();
    let args = |rest: &[&'static str]| -> Vec<String> {
        let mut v = vec!["--postgres".to_string(), conninfo.clone(), "--pg-schema".into(), "cli_demo".into()];
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };
    let run = |rest: &[&'static str]| {
        let a = args(rest);
        clearhouse(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let first = run(&["run"]);
    let hash = state_hash(&first);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("45 commands: 28 applied, 10 rejected, 6 refused (not journalled), 1 already journalled"), "{stdout}");

    // A restart recovers from PostgreSQL: every command is answered from the journal.
    let second = run(&["run"]);
    assert_eq!(state_hash(&second), hash);
    assert!(String::from_utf8_lossy(&second.stdout).contains("0 applied, 0 rejected, 6 refused (not journalled), 39 already journalled"));
    assert_eq!(state_hash(&run(&["verify"])), hash);

    // The state does not depend on where it is journalled.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("journal.sqlite");
    assert_eq!(state_hash(&clearhouse(&["--journal", sqlite.to_str().unwrap(), "run"])), hash);
    drop(pg);
}
