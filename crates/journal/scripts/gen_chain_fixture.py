#!/usr/bin/env python3
"""Independent reference for the journal's hash layouts (format version 1), written from docs/journal.md.

Produces tests/fixtures/chain_v1.txt, which tests/reference_hashes.rs checks the Rust implementation
against. Requires the `blake3` package (official BLAKE3 bindings):

    python3 -m venv /work/venv-journal && /work/venv-journal/bin/pip install blake3
    /work/venv-journal/bin/python crates/journal/scripts/gen_chain_fixture.py > crates/journal/tests/fixtures/chain_v1.txt

Line format (hex fields, "-" for an empty byte string):
    record   <seq> <batch_id> <prev_hash> <command> <result> <hash>
    batch    <batch_id> <first_seq> <last_seq> <last_hash> <state_hash> <checksum>
    head     <last_seq> <last_batch_id> <last_hash> <checksum>
    snapshot <last_seq> <batch_id> <state_hash> <chain_hash> <state> <checksum>
"""
import struct

from blake3 import blake3

FORMAT_VERSION = 1
TAG_BATCH = b"clearhouse.batch"
TAG_HEAD = b"clearhouse.head\x00"
TAG_SNAPSHOT = b"clearhouse.snap\x00"
assert len(TAG_BATCH) == len(TAG_HEAD) == len(TAG_SNAPSHOT) == 16


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def h(data):
    return blake3(data).digest()


def record_hash(seq, batch_id, prev, command, result):
    return h(u32(FORMAT_VERSION) + u64(seq) + u64(batch_id) + prev
             + u64(len(command)) + command + u64(len(result)) + result)


def batch_checksum(batch_id, first_seq, last_seq, last_hash, state_hash):
    return h(TAG_BATCH + u32(FORMAT_VERSION) + u64(batch_id) + u64(first_seq) + u64(last_seq)
             + last_hash + state_hash)


def head_checksum(last_seq, last_batch_id, last_hash):
    return h(TAG_HEAD + u32(FORMAT_VERSION) + u64(last_seq) + u64(last_batch_id) + last_hash)


def snapshot_checksum(last_seq, batch_id, state_hash, chain_hash, state):
    return h(TAG_SNAPSHOT + u32(FORMAT_VERSION) + u64(last_seq) + u64(batch_id) + state_hash
             + chain_hash + u64(len(state)) + state)


def hx(b):
    return b.hex() if b else "-"


def main():
    # Three batches exercising empty payloads, binary bytes and a multi-chunk (> 1024 byte) command.
    batches = [
        [(b'{"id":"c1","kind":"deposit"}', b'{"ok":true}'), (b"", b"")],
        [(bytes(range(256)), b"\x00\xff"), (b"x" * 3000, b'{"err":"insufficient margin"}'), (b"a", b"")],
        [(b'{"id":"c6"}', b"r" * 70)],
    ]
    prev = bytes(32)
    seq = 0
    for i, recs in enumerate(batches):
        batch_id = i + 1
        first = seq + 1
        for command, result in recs:
            seq += 1
            cur = record_hash(seq, batch_id, prev, command, result)
            print("record", seq, batch_id, hx(prev), hx(command), hx(result), hx(cur))
            prev = cur
        state_hash = h(b"engine state after batch %d" % batch_id)
        print("batch", batch_id, first, seq, hx(prev), hx(state_hash),
              hx(batch_checksum(batch_id, first, seq, prev, state_hash)))
        if batch_id == 2:
            state = bytes((7 * k) % 251 for k in range(5000))
            print("snapshot", seq, batch_id, hx(state_hash), hx(prev), hx(state),
                  hx(snapshot_checksum(seq, batch_id, state_hash, prev, state)))
    print("head", seq, len(batches), hx(prev), hx(head_checksum(seq, len(batches), prev)))
    print("head", 0, 0, hx(bytes(32)), hx(head_checksum(0, 0, bytes(32))))


if __name__ == "__main__":
    main()
