//! JSON-lines input of `run` and `serve`: bounded line reading and typed per-line errors.
//!
//! A line is read as bytes with a hard size limit ([`LINE_BYTES_MAX`]): an oversized line is never
//! buffered whole, its bytes are skipped up to the next newline. A line then has to be UTF-8, JSON,
//! and an [`engine::Envelope`]; each failure is a [`LineError`] with a stable code, answered for that
//! line only. Nothing here knows the command set: envelopes are decoded through serde.

use engine::Envelope;
use std::io::BufRead;

/// Largest accepted command line in bytes, newline excluded: 64 KiB. The journal refuses a command
/// record over `JournalConfig::max_command_bytes` (1 MiB) and such a refusal poisons the node, so a
/// line must be refused long before that. The journalled command is the envelope re-encoded by
/// serde_json, which is never longer than the JSON it was decoded from by more than a small factor
/// (unknown fields are dropped, escapes stay escapes); a 16-fold margin covers it. `serve` asserts
/// the margin at start.
pub const LINE_BYTES_MAX: usize = 64 * 1024;

/// Why one input line was refused. `code()` is the stable identifier printed in replies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("line is {bytes} bytes, over the limit of {limit} bytes")]
    LineTooLong { bytes: usize, limit: usize },
    #[error("line is not valid UTF-8 (first invalid byte at offset {valid_up_to})")]
    InvalidUtf8 { valid_up_to: usize },
    #[error("line is not valid JSON: {detail}")]
    MalformedJson { detail: String },
    #[error("line is JSON but not a command envelope: {detail}")]
    InvalidEnvelope { detail: String },
}

impl LineError {
    /// The stable error code: `line_too_long`, `invalid_utf8`, `malformed_json` or `invalid_envelope`.
    pub fn code(&self) -> &'static str {
        match self {
            LineError::LineTooLong { .. } => "line_too_long",
            LineError::InvalidUtf8 { .. } => "invalid_utf8",
            LineError::MalformedJson { .. } => "malformed_json",
            LineError::InvalidEnvelope { .. } => "invalid_envelope",
        }
    }

    /// The reply for line `line` (1-based): `{"line":N,"error":{"code":"...","message":"..."}}`.
    pub fn reply(&self, line: u64) -> String {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            code: &'a str,
            message: String,
        }
        #[derive(serde::Serialize)]
        struct Reply<'a> {
            line: u64,
            error: Body<'a>,
        }
        let reply = Reply { line, error: Body { code: self.code(), message: self.to_string() } };
        // A struct of a number and two strings always serialises.
        serde_json::to_string(&reply).unwrap_or_default()
    }
}

/// One line read by [`read_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// End of input; nothing more was read.
    Eof,
    /// A line within the limit, in the caller's buffer (newline removed).
    Line,
    /// A line over the limit; its bytes were skipped through its newline. `bytes` counts what was seen.
    TooLong { bytes: usize },
}

/// Reads one line into `buf` (cleared first), holding at most `limit` bytes of it in memory.
pub fn read_line(input: &mut impl BufRead, limit: usize, buf: &mut Vec<u8>) -> std::io::Result<Read> {
    buf.clear();
    let mut seen = 0usize;
    let mut too_long = false;
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(match (seen, too_long) {
                (0, _) => Read::Eof,
                (_, true) => Read::TooLong { bytes: seen },
                (_, false) => Read::Line,
            });
        }
        let (chunk, ends_line) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], true),
            None => (available, false),
        };
        seen = seen.saturating_add(chunk.len());
        too_long |= seen > limit;
        if too_long {
            buf.clear();
        } else {
            buf.extend_from_slice(chunk);
        }
        let consumed = chunk.len() + usize::from(ends_line);
        input.consume(consumed);
        if ends_line {
            return Ok(if too_long { Read::TooLong { bytes: seen } } else { Read::Line });
        }
    }
}

/// True for a line of only ASCII whitespace: skipped without a reply.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Decodes one line (newline removed) into an envelope.
pub fn parse(line: &[u8]) -> Result<Envelope, LineError> {
    if line.len() > LINE_BYTES_MAX {
        return Err(LineError::LineTooLong { bytes: line.len(), limit: LINE_BYTES_MAX });
    }
    let text = std::str::from_utf8(line).map_err(|e| LineError::InvalidUtf8 { valid_up_to: e.valid_up_to() })?;
    // Syntax first, so that a truncated line is `malformed_json` even when the envelope decoder would
    // have stopped earlier at an unknown field.
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| LineError::MalformedJson { detail: e.to_string() })?;
    serde_json::from_str(text).map_err(|e| LineError::InvalidEnvelope { detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8], limit: usize) -> Vec<(Read, Vec<u8>)> {
        let mut reader = std::io::BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let read = read_line(&mut reader, limit, &mut buf).expect("in-memory read");
            if read == Read::Eof {
                return out;
            }
            out.push((read, buf.clone()));
        }
    }

    #[test]
    fn oversized_lines_are_skipped_through_their_newline() {
        let lines = read_all(b"abc\n0123456789\nxy\n\nlast", 5);
        assert_eq!(
            lines,
            vec![
                (Read::Line, b"abc".to_vec()),
                (Read::TooLong { bytes: 10 }, Vec::new()),
                (Read::Line, b"xy".to_vec()),
                (Read::Line, Vec::new()),
                (Read::Line, b"last".to_vec()),
            ]
        );
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_accepted_and_one_more_byte_is_not() {
        assert_eq!(read_all(b"12345\n123456", 5), vec![(Read::Line, b"12345".to_vec()), (Read::TooLong { bytes: 6 }, Vec::new())]);
    }

    #[test]
    fn each_bad_line_gets_its_own_code() {
        assert_eq!(parse(&[b'{', 0xff, b'}']).map_err(|e| e.code()), Err("invalid_utf8"));
        assert_eq!(parse(b"{\"client\":").map_err(|e| e.code()), Err("malformed_json"));
        assert_eq!(parse(b"not json").map_err(|e| e.code()), Err("malformed_json"));
        assert_eq!(parse(b"{\"unknown\":").map_err(|e| e.code()), Err("malformed_json"));
        assert_eq!(parse(b"{\"client\":\"a\"}").map_err(|e| e.code()), Err("invalid_envelope"));
        assert_eq!(parse(b"[1,2]").map_err(|e| e.code()), Err("invalid_envelope"));
        assert_eq!(parse(&vec![b' '; LINE_BYTES_MAX + 1]).map_err(|e| e.code()), Err("line_too_long"));
    }

    #[test]
    fn replies_carry_the_line_number_and_code() {
        assert_eq!(
            LineError::InvalidUtf8 { valid_up_to: 3 }.reply(7),
            r#"{"line":7,"error":{"code":"invalid_utf8","message":"line is not valid UTF-8 (first invalid byte at offset 3)"}}"#
        );
    }
}
