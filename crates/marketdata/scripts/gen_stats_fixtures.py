#!/usr/bin/env python3
"""Reference values for crates/marketdata/src/stats.rs, computed with scipy (an independent
implementation of the distributions) and the textbook formulas written out directly with
scipy.special.xlogy.

Regenerate:
    python3 -m venv /work/venv && /work/venv/bin/pip install numpy scipy
    /work/venv/bin/python crates/marketdata/scripts/gen_stats_fixtures.py > crates/marketdata/tests/fixtures/stats_reference.json
"""
import json
import numpy as np
import scipy
from scipy import stats
from scipy.special import xlogy


def kupiec(n, x, p):
    phat = x / n
    ll0 = xlogy(n - x, 1 - p) + xlogy(x, p)
    ll1 = xlogy(n - x, 1 - phat) + xlogy(x, phat)
    lr = -2 * (ll0 - ll1)
    return lr, stats.chi2.sf(lr, 1)


def christoffersen(seq, p):
    seq = np.asarray(seq, dtype=int)
    a, b = seq[:-1], seq[1:]
    n00 = int(np.sum((a == 0) & (b == 0)))
    n01 = int(np.sum((a == 0) & (b == 1)))
    n10 = int(np.sum((a == 1) & (b == 0)))
    n11 = int(np.sum((a == 1) & (b == 1)))
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    ll0 = xlogy(n00 + n10, 1 - pi) + xlogy(n01 + n11, pi)
    ll1 = xlogy(n00, 1 - pi0) + xlogy(n01, pi0) + xlogy(n10, 1 - pi1) + xlogy(n11, pi1)
    lr_ind = -2 * (ll0 - ll1)
    lr_pof, _ = kupiec(len(seq), int(seq.sum()), p)
    lr_cc = lr_pof + lr_ind
    return dict(seq=seq.tolist(), p=p, n=[[n00, n01], [n10, n11]], lr_ind=lr_ind,
                p_ind=stats.chi2.sf(lr_ind, 1), lr_cc=lr_cc, p_cc=stats.chi2.sf(lr_cc, 2))


def zone(n, x, p):
    c = stats.binom.cdf(x, n, p)
    return "green" if c < 0.95 else ("yellow" if c < 0.9999 else "red")


def main():
    rng = np.random.default_rng(20240601)
    out = {"generator": "crates/marketdata/scripts/gen_stats_fixtures.py",
           "scipy_version": scipy.__version__}
    out["chi2"] = [dict(x=x, dof=k, cdf=stats.chi2.cdf(x, k), sf=stats.chi2.sf(x, k))
                   for k in (1, 2, 3, 5, 10) for x in (0.001, 0.1, 0.5, 1.0, 2.0, 3.841458820694124, 6.63, 10.0, 25.0, 60.0)]
    out["binomial"] = [dict(n=n, x=x, p=p, cdf=stats.binom.cdf(x, n, p))
                       for (n, p) in ((250, 0.01), (250, 0.025), (500, 0.01), (1000, 0.005), (2000, 0.01), (60, 0.05), (1500, 0.001))
                       for x in sorted({0, 1, 2, 3, 5, 8, int(n * p), int(n * p) + 5, int(3 * n * p) + 2})]
    out["kupiec"] = []
    for (n, p) in ((250, 0.01), (500, 0.01), (1000, 0.01), (1000, 0.05), (2190, 0.005), (100, 0.1)):
        for x in sorted({0, 1, 2, int(n * p), int(n * p) + 3, int(2 * n * p) + 1, n}):
            lr, pv = kupiec(n, x, p)
            out["kupiec"].append(dict(n=n, x=x, p=p, lr=lr, p_value=pv))
    out["christoffersen"] = []
    for (T, rate, p) in ((250, 0.01, 0.01), (500, 0.03, 0.01), (1000, 0.05, 0.05), (300, 0.2, 0.1)):
        out["christoffersen"].append(christoffersen((rng.random(T) < rate).astype(int), p))
    # A clustered sequence: exceedances in a block (should reject independence).
    seq = np.zeros(500, dtype=int)
    seq[100:106] = 1
    seq[300] = 1
    out["christoffersen"].append(christoffersen(seq, 0.01))
    out["traffic_light"] = [dict(n=n, x=x, p=p, cdf=stats.binom.cdf(x, n, p), zone=zone(n, x, p))
                            for (n, p) in ((250, 0.01), (500, 0.01), (1000, 0.01), (250, 0.025), (2190, 0.01))
                            for x in range(0, int(n * p * 4) + 4)]
    # ES Z2 (Acerbi-Szekely 2014), loss convention: Z2 = 1 - sum L I / (T alpha ES).
    z2 = []
    for (T, alpha, scale) in ((250, 0.025, 1.0), (500, 0.01, 1.3), (1000, 0.025, 0.8)):
        losses = rng.standard_t(4, T) * scale
        var = np.full(T, stats.t.ppf(1 - alpha, 4))
        # ES of a Student t(4) at level alpha, closed form.
        q = stats.t.ppf(1 - alpha, 4)
        es_val = (stats.t.pdf(q, 4) / alpha) * (4 + q * q) / 3
        es = np.full(T, es_val)
        ind = losses > var
        val = 1 - np.sum(losses * ind / es) / (T * alpha)
        ratio = float(np.mean(losses[ind] / es[ind])) if ind.any() else None
        z2.append(dict(alpha=alpha, losses=losses.tolist(), var=var.tolist(), es=es.tolist(), z2=val, ratio=ratio))
    out["es_z2"] = z2
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
