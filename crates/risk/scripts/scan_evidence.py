#!/usr/bin/env python3
"""Evidence behind docs/margin-methodology.md section 4.7, from the raw market-data CSVs only
(no model output): do the coins crash and squeeze together (a joint market scan), and how large
is a coin's worst 24h rise in units of its volatility at the time (a squeeze carried across the
coins in volatility units), held out before the squeezes of 2021-01 and 2024-05.

24h log moves of Binance hourly closes on the 00/08/16 UTC grid (the FHS windows). Volatility: the
RiskMetrics EWMA of hourly log returns (daily lambda 0.94 at the same half-life, seeded on 168
hours), sigma_then floored at 0.25 x its long-run level, sigma_now at 0.75 x (as the FHS does).
Run from the workspace root: python3 crates/risk/scripts/scan_evidence.py
(CLEARHOUSE_MARKET_DATA may point at the market-data directory; default /work/shared/data/market)."""
import csv, datetime as dt, math, os

D = os.environ.get("CLEARHOUSE_MARKET_DATA", "/work/shared/data/market") + "/"
FILES = {"BTC": "btc_usdt_binance_2019-2024_1h.csv", "ETH": "eth_usdt_binance_2019-2024_1h.csv",
         "SOL": "sol_usdt_binance_2020-2024_1h.csv", "LINK": "link_usdt_binance_2019-2024_1h.csv",
         "UNI": "uni_usdt_binance_2020-2024_1h.csv", "AAVE": "aave_usdt_binance_2020-2024_1h.csv"}
LAM = 0.94 ** (1 / 24)


def load(f):
    ts, px = [], []
    for r in csv.DictReader(open(D + f)):
        ts.append(dt.datetime.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%SZ"))
        px.append(float(r["close"]))
    sig, lr, var, sq = {}, {}, 0.0, 0.0
    for i in range(1, len(px)):
        r = math.log(px[i] / px[i - 1])
        sq += r * r
        var = sq / i if i <= 168 else LAM * var + (1 - LAM) * r * r
        sig[ts[i]], lr[ts[i]] = math.sqrt(var), math.sqrt(sq / i)
    return dict(zip(ts, px)), sig, lr, ts[0]


DATA = {c: load(f) for c, f in FILES.items()}
GRID = []
t = dt.datetime(2019, 1, 2)
while t <= dt.datetime(2025, 1, 1):
    GRID.append(t)
    t += dt.timedelta(hours=8)


def move(c, e):
    px = DATA[c][0]
    s = e - dt.timedelta(hours=24)
    return math.log(px[e] / px[s]) if e in px and s in px else None


def sigma_at(c, t, floor):
    _, sig, lr, _ = DATA[c]
    while t not in sig:
        t -= dt.timedelta(hours=1)
    return max(sig[t], floor * lr[t]) * math.sqrt(24)


def comovement():
    print("## Joint moves of BTC and ETH (24h windows, 00/08/16 UTC, 2019-2024)")
    print("| move of the first coin | windows | the other within 3% | the other moved at least half as far | least ratio |")
    print("|---|---|---|---|---|")
    for sign, word in ((-1, "fell"), (1, "rose")):
        for thr in (0.10, 0.15):
            for c, o in (("BTC", "ETH"), ("ETH", "BTC")):
                ev = [(a, b) for a, b in ((move(c, e), move(o, e)) for e in GRID) if a is not None and b is not None and sign * a > thr]
                alone = sum(1 for a, b in ev if abs(b) < 0.03)
                half = sum(1 for a, b in ev if sign * b >= 0.5 * sign * a)
                print(f"| {c} {word} > {thr:.2f} | {len(ev)} | {o}: {alone} | {half} | {min(b / a for a, b in ev):.2f} |")


def vol_units(asof):
    """Per coin: the 0.999 quantile and the largest 24h rise in units of sigma_then, before as-of."""
    out = {}
    for c in FILES:
        first = DATA[c][3]
        if first + dt.timedelta(days=30) > asof:
            continue
        z = []
        for e in GRID:
            if e > asof or e - dt.timedelta(hours=24) < first + dt.timedelta(days=7):
                continue
            m = move(c, e)
            if m is not None:
                z.append(max(m, 0.0) / sigma_at(c, e - dt.timedelta(hours=24), 0.25))
        z.sort()
        out[c] = (z[int((len(z) - 1) * 0.999)], z[-1])
    return out


def held_out():
    print("\n## Squeezes in volatility units, held out (rule on data before the window)")
    print("| as of | pooled Z (q 0.999, BTC/ETH/SOL) | ETH sigma_now (24h) | ETH range Z x sigma | ETH's worst rise before | ETH's largest 24h rise in the window |")
    print("|---|---|---|---|---|---|")
    for asof, end in (("2021-01-01", "2021-01-07"), ("2024-05-18", "2024-05-24")):
        a, b = dt.datetime.fromisoformat(asof), dt.datetime.fromisoformat(end)
        z = vol_units(a)
        zq = max(z[c][0] for c in ("BTC", "ETH", "SOL") if c in z)
        s = sigma_at("ETH", a, 0.75)
        before = max(m for m in (move("ETH", e) for e in GRID if e <= a) if m is not None)
        inside = max(m for m in (move("ETH", e) for e in GRID if a < e <= b) if m is not None)
        per = ", ".join(f"{c} {z[c][0]:.2f}" for c in ("BTC", "ETH", "SOL") if c in z)
        print(f"| {asof} | {zq:.2f} ({per}) | {s:.4f} | {zq * s:.3f} | {before:.3f} | {inside:.3f} |")


def stressed_beta(a, b, asof, fall=0.10, sign=-1):
    """Windows known at as-of (the close of the bar opened at e is known at e + 1h) in which a fell
    (sign -1; rose: sign 1) more than `fall` (log), with b's stressed beta on them: sum of b's moves
    over sum of a's."""
    known = [e for e in GRID if e + dt.timedelta(hours=1) <= asof]
    ev = [(x, y) for x, y in ((move(a, e), move(b, e)) for e in known) if x is not None and y is not None and sign * x > fall]
    return len(ev), (sum(y for _, y in ev) / sum(x for x, _ in ev) if ev else 0.0)


def joint_crash():
    print("\n## Who crashes with whom (section 4.7.1): stressed beta on the other's 24h falls beyond 0.10, history before as-of")
    print("| as of | pair | windows a fell / b fell | beta of b on a | beta of a on b | joint (both >= 0.5, >= 3 windows) |")
    print("|---|---|---|---|---|---|")
    for asof in ("2019-10-01", "2020-03-12", "2021-01-01", "2025-01-01"):
        t = dt.datetime.fromisoformat(asof)
        for a, b in (("BTC", "ETH"), ("BTC", "SOL"), ("ETH", "SOL"), ("BTC", "LINK")):
            (na, ba), (nb, bb) = stressed_beta(a, b, t), stressed_beta(b, a, t)
            joint = na >= 3 and nb >= 3 and ba >= 0.5 and bb >= 0.5
            print(f"| {asof} | {a}/{b} | {na} / {nb} | {ba:.2f} | {bb:.2f} | {'yes' if joint else 'no'} |")


def joint_rise():
    print("\n## Who rises with whom (section 4.7.2): stressed beta on the other's 24h rises beyond 0.10, history before as-of")
    print("| as of | pair | windows a rose / b rose | beta of b on a | beta of a on b | joint (both >= 0.5, >= 3 windows) |")
    print("|---|---|---|---|---|---|")
    for asof in ("2019-10-01", "2020-03-12", "2020-06-01", "2021-01-03", "2021-06-01", "2022-01-01", "2024-05-20", "2025-01-01"):
        t = dt.datetime.fromisoformat(asof)
        (na, ba), (nb, bb) = stressed_beta("BTC", "ETH", t, sign=1), stressed_beta("ETH", "BTC", t, sign=1)
        joint = na >= 3 and nb >= 3 and ba >= 0.5 and bb >= 0.5
        print(f"| {asof} | BTC/ETH | {na} / {nb} | {ba:.2f} | {bb:.2f} | {'yes' if joint else 'no'} |")


def spread_history():
    """The 24h moves of the spread ln ETH - ln BTC: the largest on each side before as-of (windows
    known at as-of), and the largest in the days after."""
    print("\n## The ETH/BTC spread (section 4.7.2): its largest 24h moves before as-of and in the crisis after")
    print("| as of | largest ETH-over-BTC move before (window end) | largest BTC-over-ETH move before | largest ETH-over-BTC move in the next 7 days |")
    print("|---|---|---|---|")
    for asof in ("2021-01-03", "2021-05-19", "2024-05-20"):
        t = dt.datetime.fromisoformat(asof)
        sp = [(move("ETH", e) - move("BTC", e), e) for e in GRID if move("ETH", e) is not None and move("BTC", e) is not None]
        before = [x for x in sp if x[1] + dt.timedelta(hours=1) <= t]
        after = [x for x in sp if t < x[1] <= t + dt.timedelta(days=7)]
        up, down, nxt = max(before), min(before), max(after)
        print(f"| {asof} | {up[0]:.3f} ({up[1]:%Y-%m-%d %H}) | {-down[0]:.3f} ({down[1]:%Y-%m-%d %H}) | {nxt[0]:.3f} ({nxt[1]:%Y-%m-%d %H}) |")


def spread_sigma():
    """Per hour (the close of the bar opened then): the EWMA and long-run volatility of the hourly
    spread moves ln ETH - ln BTC, as `load` computes them for a price."""
    eth, btc = DATA["ETH"][0], DATA["BTC"][0]
    ts = sorted(t for t in eth if t in btc)
    sig, lr, var, sq = {}, {}, 0.0, 0.0
    for i in range(1, len(ts)):
        r = math.log(eth[ts[i]] / eth[ts[i - 1]]) - math.log(btc[ts[i]] / btc[ts[i - 1]])
        sq += r * r
        var = sq / i if i <= 168 else LAM * var + (1 - LAM) * r * r
        sig[ts[i]], lr[ts[i]] = math.sqrt(var), math.sqrt(sq / i)
    return sig, lr


def spread_range():
    """The spread's stressed range per side by the rule of a price's range: max(q 0.999 of its 24h
    moves rescaled to today's spread volatility, 1.0 x its worst unscaled move, 0.10)."""
    sig, lr = spread_sigma()
    at = lambda t, f: max(sig[t], f * lr[t])
    print("\n## The ETH/BTC spread's stressed range (section 4.7.2), history before as-of")
    print("| as of | spread sigma now (24h) | q 0.999 rescaled, ETH over BTC | worst, ETH over BTC | range ETH over BTC | range BTC over ETH |")
    print("|---|---|---|---|---|---|")
    for asof in ("2021-01-03", "2024-05-20"):
        t = dt.datetime.fromisoformat(asof)
        now = at(t - dt.timedelta(hours=1), 0.75)
        raw = [(move("ETH", e) - move("BTC", e), e) for e in GRID if e + dt.timedelta(hours=1) <= t and move("ETH", e) is not None and move("BTC", e) is not None
               and e - dt.timedelta(hours=24) in sig]
        sc = [m * now / at(e - dt.timedelta(hours=24), 0.25) for m, e in raw]
        side = lambda sign: sorted(max(0.0, sign * x) for x in sc)[int((len(sc) - 1) * 0.999)]
        worst = lambda sign: max(max(0.0, sign * m) for m, _ in raw)
        rng = lambda sign: max(side(sign), worst(sign), 0.10)
        print(f"| {asof} | {now * math.sqrt(24):.4f} | {side(1):.3f} | {worst(1):.3f} | {rng(1):.3f} | {rng(-1):.3f} |")


comovement()
held_out()
joint_crash()
joint_rise()
spread_history()
spread_range()
