#!/bin/sh
# Regenerates the results of docs/backtest.md (the backtest with uncovered losses per named crisis,
# the stress-coverage table and the capital-efficiency columns) from the market history, in place:
# everything from the line "## Results" to the line "## Reading the results" is replaced by the
# output of `clearhouse backtest --markdown`. Run from the workspace root:
#     sh crates/risk/scripts/publish_backtest.sh
set -eu
cargo build --release -p cli
doc=docs/backtest.md
tmp=$(mktemp)
sed -n '1,/^## Results$/p' "$doc" > "$tmp"
printf '\n' >> "$tmp"
./target/release/clearhouse backtest --markdown >> "$tmp"
sed -n '/^## Reading the results$/,$p' "$doc" >> "$tmp"
mv "$tmp" "$doc"
echo "docs/backtest.md regenerated"
