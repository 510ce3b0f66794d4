#!/usr/bin/env python3
"""Seeded random exchanges on curvesim 0.5.0's `CurvePool` for the router's Curve venue conformance test.

Pools: the default venue set's 3pool and WBTC/sBTC pool (same A, fee, admin fee, decimals and balances as
crates/router/venues/default.toml) and a small, imbalanced low-A pool. For each, 600 exchanges with
random coins and inputs from a millionth to a tenth of the input coin's balance (log-uniform), seeded, steered to
stay within 1.5x imbalance;
each records dx, dy and fee, with the balances every 25 swaps and at the end.

Regenerate:
    python3 -m venv /tmp/venv-curvesim && /tmp/venv-curvesim/bin/pip install curvesim==0.5.0
    /tmp/venv-curvesim/bin/python crates/router/scripts/curvesim_random_swaps.py > crates/router/tests/fixtures/curvesim_random_swaps.json

Integers are decimal strings (they exceed 2^64).
"""
import json
import random
import sys

from curvesim.pool.stableswap import CurvePool

SWAPS = int(sys.argv[1]) if len(sys.argv) > 1 else 600
POOLS = [
    # name, contract A, decimals, balances (whole tokens), fee (1e10), admin fee (1e10)
    ("curve-3pool", 2000, [18, 6, 6], [60_000_000, 62_000_000, 55_000_000], 1_000_000, 5_000_000_000),
    ("curve-wbtc-sbtc", 100, [8, 18], [500, 450], 4_000_000, 5_000_000_000),
    ("imbalanced low A", 5, [6, 18], [1_000_000, 50_000], 30_000_000, 0),
]


def main():
    rng = random.Random(20260412)
    out = []
    for name, amp, decimals, whole, fee, admin_fee in POOLS:
        n = len(decimals)
        rates = [10 ** (36 - d) for d in decimals]
        balances = [w * 10 ** d for w, d in zip(whole, decimals)]
        pool = CurvePool(A=amp, D=list(balances), n=n, rates=list(rates), fee=fee, admin_fee=admin_fee)
        entry = {"name": name, "amp": amp, "decimals": decimals, "fee": str(fee), "admin_fee": str(admin_fee),
                 "balances": [str(b) for b in balances], "swaps": []}
        for k in range(SWAPS):
            i = rng.randrange(n)
            j = rng.choice([c for c in range(n) if c != i])
            # Sell the scarcer coin's counterpart: keep the pool within 1.5x imbalance, where curvesim's
            # unbounded get_D loop (the contract stops at 255 iterations) always converges.
            xp = [b * r // 10**18 for b, r in zip(pool.balances, rates)]
            if xp[i] > 1.5 * xp[j]:
                i, j = j, i
            share = 10 ** rng.uniform(-6, -1)
            dx = max(1, int(pool.balances[i] * share))
            dy, fee_out = pool.exchange(i, j, dx)
            swap = {"i": i, "j": j, "dx": str(dx), "dy": str(dy), "fee": str(fee_out)}
            if k % 25 == 24 or k == SWAPS - 1:
                swap["balances_after"] = [str(b) for b in pool.balances]
            entry["swaps"].append(swap)
        out.append(entry)
    json.dump({"source": "curvesim 0.5.0 CurvePool.exchange, seed 20260412", "pools": out}, sys.stdout, indent=0)


if __name__ == "__main__":
    main()
