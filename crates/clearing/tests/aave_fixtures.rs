//! The interest module against reference values computed with Aave v3's exact integer formulas
//! by `scripts/aave_fixtures.py` (independent Python, exact big integers). For every row the crate
//! must reproduce the broker's variant exactly, and that variant must differ from Aave's own value
//! only in the broker's favour (supply never above Aave, borrow never below) and only slightly.

use clearing::interest::{InterestIndex, Side, balance_of, compounded_interest, linear_interest, mint_scaled};
use money::Rounding;

const FIXTURES: &str = include_str!("fixtures/aave_interest.txt");

fn rows() -> Vec<(String, Vec<i128>)> {
    FIXTURES
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let mut fields = line.split_whitespace();
            let kind = fields.next().unwrap().to_string();
            let numbers = fields.map(|field| field.parse::<i128>().unwrap()).collect();
            (kind, numbers)
        })
        .collect()
}

/// Supply-side values may only be at or below Aave's, borrow-side at or above, within `slack`.
fn assert_in_brokers_favour(side: Side, ours: i128, aave: i128, slack: i128, row: &[i128]) {
    match side {
        Side::Supply => assert!(ours <= aave && aave - ours <= slack, "supply {ours} vs Aave {aave} in {row:?}"),
        Side::Borrow => assert!(ours >= aave && ours - aave <= slack, "borrow {ours} vs Aave {aave} in {row:?}"),
    }
}

fn index_from(index_ray: i128) -> InterestIndex {
    InterestIndex::restore(index_ray, 0).unwrap()
}

#[test]
fn interest_matches_the_reference_rows() {
    let rows = rows();
    assert_eq!(rows.len(), 504, "the fixture file is complete");
    // Aave rounds x^2 and x^3 per second before multiplying by n^2/2 and n^3/6, so its
    // compounded factor can sit below the exact series by up to n^2/2 + n^3/6 units (the crate's
    // terms are each within two units); an index multiplies that by at most two here.
    let compounding_slack = |n: i128| n * n / 2 + n * n * n / 6 + 4;
    let mut checked = std::collections::BTreeMap::new();
    for (kind, row) in &rows {
        match (kind.as_str(), row.as_slice()) {
            ("linear", &[rate, n, aave, ours]) => {
                assert_eq!(linear_interest(rate, n as u64, Rounding::Floor).unwrap(), ours, "{row:?}");
                assert_in_brokers_favour(Side::Supply, ours, aave, 0, row);
            }
            ("compounded", &[rate, n, aave, ours]) => {
                assert_eq!(compounded_interest(rate, n as u64, Rounding::Ceil).unwrap(), ours, "{row:?}");
                assert_in_brokers_favour(Side::Borrow, ours, aave, compounding_slack(n), row);
            }
            ("supply_index", &[index, rate, n, aave, ours]) => {
                assert_eq!(index_from(index).accrue(Side::Supply, rate, n as u64).unwrap().index_ray(), ours, "{row:?}");
                assert_in_brokers_favour(Side::Supply, ours, aave, 1, row);
            }
            ("borrow_index", &[index, rate, n, aave, ours]) => {
                assert_eq!(index_from(index).accrue(Side::Borrow, rate, n as u64).unwrap().index_ray(), ours, "{row:?}");
                assert_in_brokers_favour(Side::Borrow, ours, aave, 2 * compounding_slack(n) + 1, row);
            }
            ("scaled", &[index, amount, aave, supply, borrow]) => {
                assert_eq!(mint_scaled(Side::Supply, amount, index_from(index)).unwrap(), supply, "{row:?}");
                assert_eq!(mint_scaled(Side::Borrow, amount, index_from(index)).unwrap(), borrow, "{row:?}");
                assert_in_brokers_favour(Side::Supply, supply, aave, 1, row);
                assert_in_brokers_favour(Side::Borrow, borrow, aave, 1, row);
            }
            ("balance", &[index, scaled, aave, supply, borrow]) => {
                assert_eq!(balance_of(Side::Supply, scaled, index_from(index)).unwrap(), supply, "{row:?}");
                assert_eq!(balance_of(Side::Borrow, scaled, index_from(index)).unwrap(), borrow, "{row:?}");
                assert_in_brokers_favour(Side::Supply, supply, aave, 1, row);
                assert_in_brokers_favour(Side::Borrow, borrow, aave, 1, row);
            }
            _ => panic!("unknown fixture row {kind} {row:?}"),
        }
        *checked.entry(kind.clone()).or_insert(0) += 1;
    }
    assert_eq!(checked.len(), 6, "every kind of row was checked: {checked:?}");
}

#[test]
fn the_linear_factor_is_aaves_exactly() {
    // Aave's calculateLinearInterest floors too: the supply factor is Aave's to the unit.
    for (kind, row) in rows() {
        if kind == "linear" {
            assert_eq!(row[2], row[3], "{row:?}");
        }
    }
}
