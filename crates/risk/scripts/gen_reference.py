#!/usr/bin/env python3
"""Independent reference values for the risk crate's tests (numpy/scipy, not the Rust code).

Regenerate:
    python3 -m venv /work/venv && /work/venv/bin/pip install numpy scipy
    /work/venv/bin/python crates/risk/scripts/gen_reference.py > crates/risk/tests/fixtures/reference.json
"""
import json
import math
from datetime import datetime, timezone

import numpy as np
from scipy.stats import norm


def es_discrete(losses, alpha_tail):
    """Expected shortfall of equally likely losses (Acerbi and Tasche 2002): the mean of the worst
    n*alpha losses, the last one weighted by the fractional part."""
    x = np.sort(np.asarray(losses))[::-1]
    n = len(x)
    m = n * alpha_tail
    k = int(math.floor(m))
    s = x[:k].sum() + (m - k) * (x[k] if k < n else 0.0)
    return float(s / m)


def es_weighted(values, weights, alpha_tail):
    order = np.argsort(-np.asarray(values), kind="stable")
    mass, total = 0.0, 0.0
    for i in order:
        take = min(weights[i], alpha_tail - mass)
        if take <= 0:
            break
        total += values[i] * take
        mass += take
    return float(total / alpha_tail)


def bs_call(s, k, t, vol, r=0.0, q=0.0):
    d1 = (math.log(s / k) + (r - q + 0.5 * vol * vol) * t) / (vol * math.sqrt(t))
    d2 = d1 - vol * math.sqrt(t)
    return s * math.exp(-q * t) * norm.cdf(d1) - k * math.exp(-r * t) * norm.cdf(d2)


rng = np.random.default_rng(20241231)
out = {"es": [], "mixture": [], "option_scenario": {}}
for n in (1000, 1537, 6570):
    # Rounded to cents so the fixture stays small; the reference is computed on the rounded values.
    losses = [round(x, 2) for x in (rng.standard_t(4, size=n) * 1000.0).tolist()]
    out["es"].append({"losses": losses, "results": [{"tail": t, "es": es_discrete(losses, t)} for t in (0.01, 0.005, 0.025)]})

# A mixture: 500 equally likely market losses sharing 1 - 0.004, and two failures.
market = [round(x, 2) for x in (rng.standard_t(4, size=500) * 100.0).tolist()]
extra = [(5000.0, 0.003), (800.0, 0.001)]
w0 = (1.0 - sum(p for _, p in extra)) / len(market)
vals = market + [v for v, _ in extra]
wts = [w0] * len(market) + [p for _, p in extra]
out["mixture"] = {"market": market, "extra": extra, "tail": 0.01, "es": es_weighted(vals, wts, 0.01)}

# The ETH 3000 call (expiry 2026-12-25T08:00Z) on 2024-12-31T00:00Z with ETH at 2000 and a flat
# vol of 0.5, zero rate and carry; scenario: ETH log move -0.3, vol log move +0.2, 24 hours later.
as_of = datetime(2024, 12, 31, tzinfo=timezone.utc).timestamp()
expiry = datetime(2026, 12, 25, 8, tzinfo=timezone.utc).timestamp()
year = 365 * 86400.0
t0 = (expiry - as_of) / year
t1 = t0 - 86400.0 / year
base = bs_call(2000.0, 3000.0, t0, 0.5)
shocked = bs_call(2000.0 * math.exp(-0.3), 3000.0, t1, 0.5 * math.exp(0.2))
out["option_scenario"] = {"base_value": base, "scenario_value": shocked, "dv": shocked - base}
print(json.dumps(out))
