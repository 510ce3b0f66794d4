//! Finding 6: `verify` is read-only. On an empty file, random bytes, an SQLite database without the
//! journal schema, a main-file-only copy of a live journal and a journal shorter than `--expect-seq`, it
//! fails with a typed error; on a read-only journal (file and directory `chmod a-w`) and on a copy that
//! kept its `-wal` it succeeds. In every case no file of the journal changes and none is created.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const DEMO: &str = include_str!("../../../examples/commands/demo.jsonl");

fn clearhouse(journal: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clearhouse")).arg("--journal").arg(journal).args(args).output().expect("run clearhouse")
}

/// Every file of a directory (not its subdirectories) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .map(|p| (p.clone(), std::fs::read(&p).expect("read")))
        .collect()
}

/// Runs `verify` and checks that the journal's directory is byte-identical afterwards.
fn verify_unchanged(journal: &Path, extra: &[&str]) -> Output {
    let dir = journal.parent().expect("journal in a directory");
    let before = snapshot(dir);
    let mut args = vec!["verify"];
    args.extend_from_slice(extra);
    let output = clearhouse(journal, &args);
    assert!(before == snapshot(dir), "verify changed or created files in {}", dir.display());
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    output
}

fn fails_with(output: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(message), "expected {message:?} in: {stderr}");
}

/// The sequence number of the last journalled command, as `run` and `verify` print it.
fn printed_last_seq(output: &Output) -> u64 {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find(|l| l.starts_with("last seq ")).expect("last seq printed");
    line["last seq ".len()..].split(',').next().and_then(|n| n.parse().ok()).expect("a number")
}

fn state_hash(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().find(|l| l.starts_with("state hash ")).expect("state hash").to_string()
}

/// When the tests run as root, for whom `chmod a-w` does not stop writes, runs `verify` as `nobody`
/// (through `runuser`, as the PostgreSQL test harness does), so that the read-only case is real.
fn verify_unprivileged(top: &Path, journal: &Path) -> Option<Output> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    if uid != 0 {
        return None;
    }
    // nobody may not reach the binary (a checkout under /root): then there is nothing to run.
    let reachable = Command::new("runuser").args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_clearhouse"), "--version"]).output();
    if !reachable.is_ok_and(|o| o.status.success()) {
        eprintln!("verify as an unprivileged user: skipped, nobody cannot run {}", env!("CARGO_BIN_EXE_clearhouse"));
        return None;
    }
    // nobody must reach the journal through the temporary directory (created 0700).
    std::fs::set_permissions(top, std::fs::Permissions::from_mode(0o755)).expect("chmod tempdir");
    let before = snapshot(journal.parent().expect("parent"));
    let output = Command::new("runuser")
        .args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_clearhouse"), "--journal"])
        .arg(journal)
        .arg("verify")
        .output()
        .expect("runuser");
    assert!(before == snapshot(journal.parent().expect("parent")), "verify changed files");
    Some(output)
}

#[test]
fn verify_refuses_files_that_are_not_journals_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty").join("journal.sqlite");
    std::fs::create_dir(empty.parent().expect("parent")).expect("mkdir");
    std::fs::write(&empty, b"").expect("write");
    fails_with(&verify_unchanged(&empty, &[]), "not a clearhouse journal: the file is empty");

    let random = dir.path().join("random").join("journal.sqlite");
    std::fs::create_dir(random.parent().expect("parent")).expect("mkdir");
    std::fs::write(&random, (0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>()).expect("write");
    fails_with(&verify_unchanged(&random, &[]), "not a clearhouse journal: the file is not an SQLite database");

    let foreign = dir.path().join("foreign").join("journal.sqlite");
    std::fs::create_dir(foreign.parent().expect("parent")).expect("mkdir");
    let conn = rusqlite::Connection::open(&foreign).expect("create foreign database");
    conn.execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts VALUES (1, 'x');").expect("fill");
    drop(conn);
    fails_with(&verify_unchanged(&foreign, &[]), "not a clearhouse journal: table meta is missing");

    let missing = dir.path().join("nothing-here.sqlite");
    fails_with(&verify_unchanged(&missing, &[]), "not a clearhouse journal: there is no file");
    assert!(!missing.exists(), "verify must not create a journal");
}

#[test]
fn verify_reads_a_read_only_journal_and_checks_the_expected_seq() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    std::fs::create_dir(&archive).expect("mkdir");
    let journal = archive.join("journal.sqlite");
    let run = clearhouse(&journal, &["run"]);
    let hash = state_hash(&run);
    let last_seq = printed_last_seq(&run);
    let read_only = |on: bool| {
        use std::os::unix::fs::PermissionsExt;
        let (file_mode, dir_mode) = if on { (0o444, 0o555) } else { (0o644, 0o755) };
        std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(file_mode)).expect("chmod file");
        std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(dir_mode)).expect("chmod dir");
    };
    read_only(true);
    let verified = verify_unchanged(&journal, &[]);
    if let Some(output) = verify_unprivileged(dir.path(), &journal) {
        assert_eq!(state_hash(&output), hash, "as an unprivileged user, for whom chmod a-w really forbids writes");
    }
    let at_seq = verify_unchanged(&journal, &["--expect-seq", &last_seq.to_string()]);
    let beyond = verify_unchanged(&journal, &["--expect-seq", &(last_seq + 1).to_string()]);
    read_only(false);
    assert_eq!(state_hash(&verified), hash);
    assert_eq!(state_hash(&at_seq), hash);
    fails_with(&beyond, &format!("the journal ends at seq {last_seq}, before the expected seq {}", last_seq + 1));
}

#[test]
fn verify_refuses_a_main_file_copy_of_a_live_journal_and_reads_one_with_its_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("live.sqlite");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_clearhouse"))
        .arg("--journal")
        .arg(&journal)
        .args(["serve", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve");
    let mut stdin = serve.stdin.take().expect("stdin");
    let mut acks = BufReader::new(serve.stdout.take().expect("stdout"));
    let commands: Vec<&str> = DEMO.lines().filter(|l| !l.trim().is_empty()).collect();
    for command in &commands {
        writeln!(stdin, "{command}").expect("send");
        stdin.flush().expect("flush");
        let mut ack = String::new();
        acks.read_line(&mut ack).expect("ack");
        assert!(ack.contains("\"outcome\""), "{ack}");
    }
    // Every command is durable (acknowledged) and `serve` is still running: a naive backup now.
    let main_only = dir.path().join("main-only");
    let with_wal = dir.path().join("with-wal");
    for copy in [&main_only, &with_wal] {
        std::fs::create_dir(copy).expect("mkdir");
        std::fs::copy(&journal, copy.join("live.sqlite")).expect("copy main file");
    }
    let wal = dir.path().join("live.sqlite-wal");
    assert!(std::fs::metadata(&wal).expect("a live journal has a -wal").len() > 0);
    std::fs::copy(&wal, with_wal.join("live.sqlite-wal")).expect("copy wal");
    drop(stdin);
    assert!(serve.wait().expect("serve exits").success());

    fails_with(&verify_unchanged(&main_only.join("live.sqlite"), &[]), "write-ahead log");
    let from_original = verify_unchanged(&journal, &[]);
    let from_copy = verify_unchanged(&with_wal.join("live.sqlite"), &["--expect-seq", &printed_last_seq(&from_original).to_string()]);
    assert!(!wal.exists(), "a clean close checkpoints and removes the -wal");
    assert_eq!(state_hash(&from_copy), state_hash(&from_original));
}
