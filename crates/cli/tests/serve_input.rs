//! Finding 5: one line cannot stop `serve`. Oversized, non-UTF-8, malformed and non-envelope lines are
//! interleaved with the demo's good commands from several clients: every good command is acknowledged
//! exactly once and in order, every bad line is answered with its typed error and line number, the process
//! reads to the end and exits 0, and `verify` in a fresh process reaches the state hash that `run` reaches
//! on the good commands alone. `run FILE` refuses the same file, naming every bad line, and applies nothing.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const DEMO: &str = include_str!("../../../examples/commands/demo.jsonl");
/// The line limit documented in docs/journal.md and crates/cli/src/lines.rs.
const LINE_BYTES_MAX: usize = 64 * 1024;

fn clearhouse(journal: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clearhouse"))
        .arg("--journal")
        .arg(journal)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start clearhouse");
    let mut input = child.stdin.take().expect("stdin piped");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let output = child.wait_with_output().expect("wait for clearhouse");
    writer.join().expect("writer thread").expect("write stdin");
    output
}

fn state_hash(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    stdout.lines().find(|l| l.starts_with("state hash ")).expect("state hash printed").to_string()
}

/// The bad lines, each with the code it must be answered with.
fn bad_lines() -> Vec<(Vec<u8>, &'static str)> {
    // A valid envelope whose client name alone is 2 MiB: over the journal's 1 MiB record limit, it
    // poisoned the node before the line limit existed.
    let huge_client = format!(r#"{{"client":"{}","id":1,"command":{{"type":"advance_time","now_ms":1}}}}"#, "m".repeat(2 << 20));
    let mut just_over = br#"{"client":"x","id":9,"command":{"type":"advance_time","now_ms":1}}"#.to_vec();
    just_over.resize(LINE_BYTES_MAX + 1, b' ');
    vec![
        (huge_client.into_bytes(), "line_too_long"),
        (b"{\"client\":\"\xff\xfe\",\"id\":1}".to_vec(), "invalid_utf8"),
        (just_over, "line_too_long"),
        (b"{\"client\":\"eve\",\"id\":".to_vec(), "malformed_json"),
        (b"\xc3\x28 not even text".to_vec(), "invalid_utf8"),
        (b"not json at all".to_vec(), "malformed_json"),
        (br#"{"client":"eve","id":7}"#.to_vec(), "invalid_envelope"),
        (br#"{"client":"eve","id":-1,"command":{}}"#.to_vec(), "invalid_envelope"),
    ]
}

enum Expect {
    Ack { client: String, id: u64 },
    Error { line: u64, code: &'static str },
}

/// The first demo command under a client name that makes the line exactly [`LINE_BYTES_MAX`] bytes:
/// the largest line accepted, which must be journalled without poisoning anything.
fn largest_good_line() -> String {
    let mut envelope: serde_json::Value = serde_json::from_str(DEMO.lines().next().expect("demo")).expect("JSON");
    envelope["client"] = serde_json::Value::String(String::new());
    let rest = serde_json::to_string(&envelope).expect("encode").len();
    envelope["client"] = serde_json::Value::String("c".repeat(LINE_BYTES_MAX - rest));
    let line = serde_json::to_string(&envelope).expect("encode");
    assert_eq!(line.len(), LINE_BYTES_MAX);
    line
}

/// The good commands: the demo's, then the largest line accepted.
fn good_lines() -> Vec<String> {
    let mut good: Vec<String> = DEMO.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    good.push(largest_good_line());
    good
}

/// The good commands with a bad line after every second one (and blank lines, which get no reply).
fn interleaved() -> (Vec<u8>, Vec<Expect>) {
    let good = good_lines();
    let mut bad = bad_lines().into_iter().cycle();
    let (mut input, mut expected) = (Vec::new(), Vec::new());
    let mut line = 0u64;
    for (i, command) in good.iter().enumerate() {
        let envelope: serde_json::Value = serde_json::from_str(command).expect("demo line is JSON");
        let client = envelope["client"].as_str().expect("client").to_string();
        let id = envelope["id"].as_u64().expect("id");
        input.extend_from_slice(command.as_bytes());
        input.push(b'\n');
        line += 1;
        expected.push(Expect::Ack { client, id });
        if i % 2 == 1 {
            let (bytes, code) = bad.next().expect("cycle");
            input.extend_from_slice(&bytes);
            input.extend_from_slice(b"\n\n");
            line += 2;
            expected.push(Expect::Error { line: line - 1, code });
        }
    }
    // The last line has no newline and is bad: it is still answered.
    input.extend_from_slice(b"{\"unterminated\":");
    expected.push(Expect::Error { line: line + 1, code: "malformed_json" });
    (input, expected)
}

#[test]
fn serve_answers_every_bad_line_and_acknowledges_every_good_command_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("serve.sqlite");
    let (input, expected) = interleaved();
    let output = clearhouse(&journal, &["serve", "--stdin"], &input);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "serve must read to the end and exit 0: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let replies: Vec<serde_json::Value> =
        String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).expect("every reply is JSON")).collect();
    assert_eq!(replies.len(), expected.len(), "one reply per non-blank line");
    let (mut acks, mut errors) = (0, 0);
    for (reply, expect) in replies.iter().zip(&expected) {
        match expect {
            Expect::Ack { client, id } => {
                assert_eq!((reply["client"].as_str(), reply["id"].as_u64()), (Some(client.as_str()), Some(*id)), "{reply}");
                assert!(reply.get("outcome").is_some(), "{reply}");
                acks += 1;
            }
            Expect::Error { line, code } => {
                assert_eq!((reply["line"].as_u64(), reply["error"]["code"].as_str()), (Some(*line), Some(*code)), "{reply}");
                errors += 1;
            }
        }
    }
    assert_eq!((acks, errors), (good_lines().len(), expected.len() - acks));

    // The journal holds exactly the good commands: a fresh process replays it to the state `run` reaches
    // on the good commands alone, in another journal.
    let good_file = dir.path().join("good.jsonl");
    std::fs::write(&good_file, good_lines().join("\n")).expect("write good commands");
    let reference = clearhouse(&dir.path().join("reference.sqlite"), &["run", good_file.to_str().expect("utf-8 path")], b"");
    let verified = clearhouse(&journal, &["verify"], b"");
    assert_eq!(state_hash(&verified), state_hash(&reference));
}

#[test]
fn run_refuses_a_file_with_bad_lines_naming_each_and_applies_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, expected) = interleaved();
    let file = dir.path().join("commands.jsonl");
    std::fs::write(&file, &input).expect("write command file");
    let journal = dir.path().join("run.sqlite");
    let output = clearhouse(&journal, &["run", file.to_str().expect("utf-8 path")], b"");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let bad: Vec<(u64, &str)> = expected
        .iter()
        .filter_map(|e| match e {
            Expect::Error { line, code } => Some((*line, *code)),
            Expect::Ack { .. } => None,
        })
        .collect();
    for (line, code) in bad.iter().take(20) {
        assert!(stderr.contains(&format!("line {line}: {code}:")), "line {line} ({code}) not reported: {stderr}");
    }
    assert!(stderr.contains(&format!("{} bad lines (the first at line {})", bad.len(), bad[0].0)), "{stderr}");
    assert!(!journal.exists(), "nothing may be applied: the journal must not even be created");
}
