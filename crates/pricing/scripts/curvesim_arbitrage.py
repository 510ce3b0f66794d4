#!/usr/bin/env python3
"""Reference LP valuations at arbitrage equilibrium, produced by *trading* curvesim 0.5.0's CurvePool.

For each case a fee-less pool is arbitraged against external prices by actual `exchange` calls: the cheap
coin is sold into the pool in the amount (found by bisection on integer wei) that brings the pool's
marginal price `dydx(i, j)` to the external ratio p_i / p_j; for three coins the pairwise arbitrages are
repeated until nothing moves. The resulting balances and the share's value sum(x_i p_i) / supply are what
the crate's closed-form equilibrium (`curve::equilibrium_balances`, `CurveLp::value`) must reproduce.

Regenerate:
    /work/venv-pricing/bin/python crates/pricing/scripts/curvesim_arbitrage.py > crates/pricing/tests/fixtures/curve_arbitrage.json
"""
import copy
import json
import sys

from curvesim.pool.stableswap import CurvePool

E18 = 10**18

CASES = [
    # name, contract A, balances (whole tokens), supply (whole shares), external prices (USD)
    ("stETH/ETH-like A=50, stETH at 0.95", 50, [100_000, 120_000], 210_000, [3000.0, 2850.0]),
    ("2-coin stable A=2000, coin 1 at 0.98", 2000, [10_000_000, 10_000_000], 19_900_000, [1.0, 0.98]),
    ("2-coin stable A=100, coin 0 at 0.90", 100, [5_000_000, 7_000_000], 12_000_000, [0.90, 1.0]),
    ("3pool-like A=2000, USDT at 0.97", 2000, [50_000_000, 50_000_000, 50_000_000], 148_000_000, [1.0, 1.0, 0.97]),
    ("3-coin A=200, mixed pegs", 200, [30_000_000, 45_000_000, 25_000_000], 99_000_000, [1.001, 0.995, 0.985]),
]


def arbitrage_pair(pool, i, j, ratio):
    """Sell coin i for coin j until dydx(i, j) <= ratio (ratio = p_i / p_j), by bisection on dx."""
    if pool.dydx(i, j) <= ratio:
        return False
    lo, hi = 0, pool.balances[i] * 8
    while hi - lo > 1:
        mid = (lo + hi) // 2
        trial = copy.deepcopy(pool)
        try:
            trial.exchange(i, j, mid)
            ok = trial.dydx(i, j) > ratio
        except Exception:
            ok = False
        if ok:
            lo = mid
        else:
            hi = mid
    if lo == 0:
        return False
    pool.exchange(i, j, lo)
    return True


def main():
    out = []
    for name, A, balances, supply, prices in CASES:
        n = len(balances)
        pool = CurvePool(A=A, D=[b * E18 for b in balances], n=n, fee=0, admin_fee=0)
        d_before = pool.D()
        for _ in range(40):
            moved = False
            for i in range(n):
                for j in range(n):
                    if i != j:
                        moved |= arbitrage_pair(pool, i, j, prices[i] / prices[j])
            if not moved:
                break
        x = [b / E18 for b in pool.balances]
        out.append({
            "name": name,
            "amp": A,
            "balances": balances,
            "total_supply": supply,
            "prices_usd": prices,
            "d_before": str(d_before),
            "d_after": str(pool.D()),
            "arbitraged_balances": x,
            "value_per_share_usd": sum(xi * p for xi, p in zip(x, prices)) / supply,
        })
    json.dump({"source": "curvesim 0.5.0 CurvePool, fee 0, arbitraged by exchange()", "cases": out}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
