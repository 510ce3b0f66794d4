#!/usr/bin/env python3
"""Reference values for European options from QuantLib 1.44 (prices and every Greek) and implied
volatilities from vollib 1.0.11 (Jaeckel's "Let's be rational").

Regenerate (outside the repo's tree for the venv):
    python3 -m venv /work/venv-pricing
    /work/venv-pricing/bin/pip install QuantLib==1.44 vollib==1.0.11
    /work/venv-pricing/bin/python crates/pricing/scripts/quantlib_options.py > crates/pricing/tests/fixtures/options_quantlib.json

Conventions matched to the crate: time to expiry T = days / 365 with Actual/365 Fixed, continuously
compounded flat rates, vega per 1.00 of vol, theta per year (QuantLib's theta()), rho per 1.00 of rate.
Black-76 cases are run through the same engine with the "spot" set to the forward and the dividend yield
set equal to the rate (so the forward is flat); the Black-76 rho (forward held fixed) is then QuantLib's
rho() + dividendRho().
"""
import itertools
import json

import QuantLib as ql
from vollib.black_scholes_merton.implied_volatility import implied_volatility as bsm_iv
from vollib.black.implied_volatility import implied_volatility as black_iv


def quantlib_case(model, right, s, k, days, r, q, vol):
    today = ql.Date(2, ql.January, 2026)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    maturity = today + days
    if model == "black76":
        q = r
    spot = ql.QuoteHandle(ql.SimpleQuote(s))
    rate_ts = ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc, ql.Continuous))
    div_ts = ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc, ql.Continuous))
    vol_ts = ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, dc))
    process = ql.BlackScholesMertonProcess(spot, div_ts, rate_ts, vol_ts)
    opt_type = ql.Option.Call if right == "call" else ql.Option.Put
    option = ql.VanillaOption(ql.PlainVanillaPayoff(opt_type, k), ql.EuropeanExercise(maturity))
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    rho = option.rho() + (option.dividendRho() if model == "black76" else 0.0)
    return {
        "model": model,
        "right": right,
        "underlying_usd": s,
        "strike_usd": k,
        "time_years": days / 365.0,
        "rate_annual": r,
        "carry_annual": q if model == "bs" else 0.0,
        "vol_annual": vol,
        "price_usd": option.NPV(),
        "delta": option.delta(),
        "gamma": option.gamma(),
        "vega": option.vega(),
        "theta_per_year": option.theta(),
        "rho": rho,
    }


def main():
    cases = []
    spots = [100.0]
    strikes = [60.0, 90.0, 100.0, 110.0, 150.0]
    days_list = [7, 30, 182, 365, 730]
    vols = [0.05, 0.2, 0.8]
    for model, right, k, days, vol in itertools.product(["bs", "black76"], ["call", "put"], strikes, days_list, vols):
        r = 0.05 if model == "bs" else 0.03
        q = 0.02 if (model == "bs" and k != 100.0) else 0.0
        cases.append(quantlib_case(model, right, spots[0], k, days, r, q, vol))
    # A crypto-like case: BTC at 65,000, 3-month 60% vol, negative rate to exercise signs.
    cases.append(quantlib_case("bs", "call", 65000.0, 70000.0, 91, -0.01, 0.0, 0.6))
    cases.append(quantlib_case("bs", "put", 65000.0, 50000.0, 91, 0.04, 0.03, 0.6))

    # Implied vol round trips by an independent solver (vollib, Jaeckel 2015).
    iv_cases = []
    for c in cases:
        price = c["price_usd"]
        s, k, t, r, q = c["underlying_usd"], c["strike_usd"], c["time_years"], c["rate_annual"], c["carry_annual"]
        flag = "c" if c["right"] == "call" else "p"
        try:
            if c["model"] == "bs":
                iv = bsm_iv(price, s, k, t, r, q, flag)
            else:
                iv = black_iv(price, s, k, r, t, flag)
        except Exception:  # below intrinsic / numerically zero time value: vollib raises
            continue
        # Keep only cases with meaningful time value (price above its no-arbitrage lower bound by at least
        # 1e-4 of spot): deep in/out of the money at 5% vol the price carries no information about the vol
        # at double precision, and any solver's answer there is noise.
        import math
        qq = r if c["model"] == "black76" else q
        fwd_pv = s * math.exp(-qq * t)
        strike_pv = k * math.exp(-r * t)
        lower = max(fwd_pv - strike_pv, 0.0) if flag == "c" else max(strike_pv - fwd_pv, 0.0)
        if price - lower > 1e-4 * s and abs(iv - c["vol_annual"]) < 1e-6:
            iv_cases.append({**{key: c[key] for key in ["model", "right", "underlying_usd", "strike_usd", "time_years", "rate_annual", "carry_annual", "price_usd"]}, "implied_vol": iv})
    json.dump({"source": "QuantLib " + ql.__version__ + " AnalyticEuropeanEngine; vollib 1.0.11 implied vols", "greeks": cases, "implied_vol": iv_cases}, fp=__import__("sys").stdout, indent=1)


if __name__ == "__main__":
    main()
