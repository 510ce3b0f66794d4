#!/usr/bin/env python3
"""Writes day.jsonl: one trading day on the broker's own derivative markets, from 2026-12-24
08:00 UTC to just after the ETH options expire at 2026-12-25 08:00 UTC.

Clients deposit, trade ETH and BTC perps and the ETH 3000 call and 2500 put, the oracle moves
hourly, funding is paid at 16:00, 00:00 and 08:00 (with a bid/ask resting away from the index so
the mark differs from it), carol's BTC loss exceeds her balance and becomes a borrow that a later
deposit repays, the options settle at the 30-minute TWAP of the oracle prints before expiry,
alice closes her perp and withdraws. Run: `python3 examples/commands/day.py > examples/commands/day.jsonl`.
"""
import json

HOUR = 3_600_000
MINUTE = 60_000
EXPIRY = 1_798_185_600_000  # 2026-12-25T08:00:00Z
START = EXPIRY - 24 * HOUR

ids = {}
lines = []


def send(client, command):
    ids[client] = ids.get(client, 0) + 1
    lines.append({"client": client, "id": ids[client], "command": command})


def op(kind, **fields):
    send("operator", {"type": kind, **fields})


def order(owner, market, side, price, qty, kind="limit", cid=None):
    cid = cid if cid is not None else ids.get(owner, 0) + 1
    send(owner, {"type": "place_order", "account": f"{owner}/main", "market": market, "client_order_id": cid,
                 "side": side, "kind": kind, "price": price, "qty": qty})


def prices(eth, btc):
    op("set_price", symbol="ETH", price_usd=eth)
    op("set_price", symbol="BTC", price_usd=btc)


op("advance_time", now_ms=START)
op("set_price", symbol="USDC", price_usd="1")
prices("3350", "97000")
for owner in ["alice", "bob", "carol"]:
    op("register_principal", name=owner, role="owner")
    op("create_account", owner=owner)
for owner, amount in [("alice", "250000"), ("bob", "250000"), ("carol", "2000")]:
    op("deposit", account=f"{owner}/main", asset="USDC", amount=amount, custodian="ethereum", external_ref=f"0xday-{owner}")

# Perps: alice long 10 ETH from bob; carol long 0.5 BTC from bob.
order("bob", "ETH-PERP", "sell", "3350", "10")
order("alice", "ETH-PERP", "buy", "3350", "10")
order("bob", "BTC-PERP", "sell", "97000", "0.5")
order("carol", "BTC-PERP", "buy", "97000", "0.5")
# Options: alice buys 5 calls at 380 from bob; carol buys 2 puts at 8 from alice.
order("bob", "ETH-20261225-3000-C", "sell", "380", "5")
order("alice", "ETH-20261225-3000-C", "buy", "380", "5")
order("alice", "ETH-20261225-2500-P", "sell", "8", "5")
order("carol", "ETH-20261225-2500-P", "buy", "8", "2")
# A bid and an ask resting above the index: the mark is their mid.
order("alice", "ETH-PERP", "buy", "3360", "0.1", kind="post_only")
order("bob", "ETH-PERP", "sell", "3380", "0.1", kind="post_only")

path = [("3362", "96500"), ("3371", "95800"), ("3380", "95100"), ("3374", "94200"), ("3366", "93600"),
        ("3359", "93100"), ("3368", "92700"), ("3372", "92900"), ("3381", "93400"), ("3377", "93800"),
        ("3385", "94100"), ("3390", "94500"), ("3388", "94300"), ("3394", "94700"), ("3398", "95000"),
        ("3391", "95200"), ("3395", "95400"), ("3399", "95600"), ("3402", "95700"), ("3400", "95900"),
        ("3404", "96000"), ("3401", "96100"), ("3403", "96200")]
for hour, (eth, btc) in enumerate(path, start=1):
    op("advance_time", now_ms=START + hour * HOUR)
    prices(eth, btc)
    if hour == 17:
        # carol's BTC loss (0.5 x (97000 - 92700) at the midnight funding) exceeded her balance:
        # she deposits again, which repays the house first.
        op("deposit", account="carol/main", asset="USDC", amount="3000", custodian="ethereum", external_ref="0xday-carol-2")
# The last 30 minutes before expiry: prints every 10 minutes, then expiry at 08:00.
for minutes, eth in [(30, "3406"), (20, "3412"), (10, "3409")]:
    op("advance_time", now_ms=EXPIRY - minutes * MINUTE)
    op("set_price", symbol="ETH", price_usd=eth)
op("advance_time", now_ms=EXPIRY)
# alice closes her perp against bob and withdraws part of her balance.
send("alice", {"type": "cancel_all_orders", "account": "alice/main", "market": "ETH-PERP"})
send("bob", {"type": "cancel_all_orders", "account": "bob/main", "market": "ETH-PERP"})
order("bob", "ETH-PERP", "buy", "3410", "10")
order("alice", "ETH-PERP", "sell", "3410", "10")
send("alice", {"type": "request_withdrawal", "account": "alice/main", "asset": "USDC", "amount": "1000",
               "custodian": "ethereum", "destination": "0xa11ce", "withdrawal_id": "day-w1"})
op("confirm_withdrawal", withdrawal_id="day-w1", chain_ref="0xday-w1-tx")
op("advance_time", now_ms=EXPIRY + HOUR)

for line in lines:
    print(json.dumps(line, separators=(",", ":")))
