"""Schemathesis hooks that sign every request as the service's operator.

The service authenticates each request with an ed25519 signature over
`clearhouse-v1\\nMETHOD\\nPATH?QUERY\\nSHA256(body) hex\\nNONCE\\nEXPIRY` (crates/server/src/auth.rs,
`signing_message`). The signature must cover the exact bytes sent, so it is added to the prepared
request, after schemathesis has serialised the generated case: `requests.Session.send` is wrapped.
Without it, every authenticated operation answers 401 and the fuzzing never reaches a handler.

Environment: CLEARHOUSE_FUZZ_KEY_FILE (64 hex digits, an ed25519 secret key, as written by
`clearhouse client keygen`) and CLEARHOUSE_FUZZ_KEY_ID (the principal, default `operator`).
"""

import hashlib
import os
import threading
import time

import nacl.signing
import requests

_KEY = nacl.signing.SigningKey(bytes.fromhex(open(os.environ["CLEARHOUSE_FUZZ_KEY_FILE"]).read().strip()))
_KEY_ID = os.environ.get("CLEARHOUSE_FUZZ_KEY_ID", "operator")
_LOCK = threading.Lock()
_LAST_NONCE = [0]


def _nonce():
    """Strictly increasing wall-clock microseconds, as `server::client::Signer::next_nonce`."""
    with _LOCK:
        _LAST_NONCE[0] = max(_LAST_NONCE[0] + 1, time.time_ns() // 1000)
        return _LAST_NONCE[0]


def _sign(request):
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    nonce = _nonce()
    expiry = int(time.time() * 1000) + 30_000
    message = "clearhouse-v1\n{}\n{}\n{}\n{}\n{}".format(
        request.method, request.path_url, hashlib.sha256(body).hexdigest(), nonce, expiry
    )
    request.headers["x-ch-key"] = _KEY_ID
    request.headers["x-ch-nonce"] = str(nonce)
    request.headers["x-ch-expiry"] = str(expiry)
    request.headers["x-ch-signature"] = _KEY.sign(message.encode()).signature.hex()


_send = requests.Session.send


def _signed_send(self, request, **kwargs):
    _sign(request)
    return _send(self, request, **kwargs)


requests.Session.send = _signed_send
