#!/usr/bin/env python3
"""Reference values for Aave v3 index accrual (aave-v3-core MathUtils.sol / WadRayMath.sol).

Two independent computations per case:
  * "contract": the published Solidity formulas evaluated with Python's arbitrary-precision integers
    (rayMul rounds half up; calculateCompoundedInterest is the three-term binomial on per-second rates
    with the contract's intermediate truncations),
  * "exact_compound": (1 + r/Y)^n in exact rational arithmetic (fractions), the quantity the binomial
    approximates, to bound the approximation error.

Regenerate:
    python3 crates/pricing/scripts/aave_index.py > crates/pricing/tests/fixtures/aave_index.json
No third-party packages are needed.
"""
import json
import sys
from fractions import Fraction

RAY = 10**27
HALF_RAY = RAY // 2
SECONDS_PER_YEAR = 365 * 24 * 3600


def ray_mul(a, b):
    return (a * b + HALF_RAY) // RAY


def linear(rate, dt):
    return RAY + rate * dt // SECONDS_PER_YEAR


def compounded(rate, dt):
    if dt == 0:
        return RAY
    exp_m1 = dt - 1
    exp_m2 = dt - 2 if dt > 2 else 0
    base2 = ray_mul(rate, rate) // (SECONDS_PER_YEAR * SECONDS_PER_YEAR)
    base3 = ray_mul(base2, rate) // SECONDS_PER_YEAR
    second = dt * exp_m1 * base2 // 2
    third = dt * exp_m1 * exp_m2 * base3 // 6
    return RAY + rate * dt // SECONDS_PER_YEAR + second + third


def main():
    cases = []
    rates = [0, 1, 10**25, 35 * 10**24, 5 * 10**25, 2 * 10**26, 10**27, 3 * 10**27]  # 0, 1 wei, 1%, 3.5%, 5%, 20%, 100%, 300%
    dts = [0, 1, 2, 3, 12, 3600, 86400, 30 * 86400, SECONDS_PER_YEAR, 3 * SECONDS_PER_YEAR]
    index = 1_043_719_230_519_311_712_356_127_831  # an arbitrary non-round starting index
    for rate in rates:
        for dt in dts:
            exact = Fraction(1) if dt == 0 else (1 + Fraction(rate, RAY * SECONDS_PER_YEAR)) ** dt if dt <= 86400 else None
            cases.append({
                "rate_ray": str(rate),
                "elapsed_seconds": dt,
                "linear_ray": str(linear(rate, dt)),
                "compounded_ray": str(compounded(rate, dt)),
                "start_index_ray": str(index),
                "next_liquidity_index_ray": str(ray_mul(linear(rate, dt), index)),
                "next_variable_borrow_index_ray": str(ray_mul(compounded(rate, dt), index)),
                "exact_compound": None if exact is None else float(exact),
            })
    json.dump({"source": "aave-v3-core MathUtils/WadRayMath formulas in Python integers", "cases": cases}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
