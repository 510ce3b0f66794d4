//! Property tests of the clearing invariants over random inputs, each against an exact reference
//! computed independently in 512-bit integers (or in i128 on a domain where it cannot overflow):
//! funding and option expiry are zero-sum between longs, shorts and the house; every client
//! amount is rounded in the broker's favour; interest indices are monotone; fees, P&L, staking and
//! prediction payouts never pay a client more than the exact value. Proptest prints the failing
//! input (and keeps its seed in a regressions file) on failure.

use clearing::fees::FeeSchedule;
use clearing::funding::settle_funding;
use clearing::interest::{InterestIndex, RAY, Side, balance_of, burn_scaled, mint_scaled};
use clearing::options::{OptionKind, intrinsic_value, settle_expiry};
use clearing::pnl::PerpPosition;
use clearing::prediction::{Holding, Outcome, payout_per_share, resolve};
use clearing::staking::{ExchangeRate, shares_for_deposit, value_of_shares};
use clearing::{ContractSpec, ONE_E18, Payment, Price};
use money::Amount;
use proptest::prelude::*;
use ruint::aliases::U512;

const HOUSE: u32 = u32::MAX;

fn big(value: i128) -> U512 {
    U512::from(value.unsigned_abs())
}

fn pow10(exponent: u32) -> U512 {
    U512::from(10u8).pow(U512::from(exponent))
}

/// The positions of `sizes` accounts plus the house holding the opposite of their net.
fn with_house(sizes: &[i128]) -> Vec<(u32, i128)> {
    let mut positions: Vec<(u32, i128)> = sizes.iter().enumerate().map(|(i, q)| (i as u32, *q)).collect();
    positions.push((HOUSE, -sizes.iter().sum::<i128>()));
    positions
}

fn sum(payments: &[Payment<u32>]) -> i128 {
    payments.iter().map(|p| p.amount).sum()
}

/// Checks a holder's payment against the exact `numerator / denominator`: a receiver gets
/// `floor` or less and a payer pays `ceil` or more, within `slack` units of exact.
fn check_against_exact(amount: i128, receives: bool, numerator: U512, denominator: U512, slack: u64) {
    let scaled = big(amount) * denominator;
    if receives {
        assert!(amount >= 0 && scaled <= numerator, "receiver got {amount}, above exact");
        assert!(numerator < (big(amount) + U512::from(slack)) * denominator, "receiver got {amount}, too far below exact");
    } else {
        assert!(amount <= 0 && scaled >= numerator, "payer paid {amount}, below exact");
        assert!(
            big(amount) < U512::from(slack) || (big(amount) - U512::from(slack)) * denominator < numerator,
            "payer paid {amount}, too far above"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn funding_is_zero_sum_and_rounds_against_every_client(
        sizes in prop::collection::vec(-1_000_000_000_000i128..=1_000_000_000_000, 1..20),
        index_e18 in 1i128..=1_000_000 * ONE_E18,
        rate_e18 in -10_000_000_000_000_000i128..=10_000_000_000_000_000,
        quantity_decimals in 0u8..=8,
        settlement_decimals in 0u8..=18,
    ) {
        let spec = ContractSpec::new(quantity_decimals, settlement_decimals).unwrap();
        let positions = with_house(&sizes);
        let payments = settle_funding(&positions, &HOUSE, Price(index_e18), rate_e18, spec).unwrap();
        prop_assert_eq!(sum(&payments), 0);
        prop_assert_eq!(payments.len(), positions.len());
        let denominator = pow10(u32::from(quantity_decimals) + 36 - u32::from(settlement_decimals));
        for (payment, (account, quantity)) in payments.iter().zip(&positions) {
            prop_assert_eq!(payment.account, *account);
            let numerator = big(*quantity) * big(index_e18) * big(rate_e18);
            let receives = (*quantity > 0) == (rate_e18 < 0);
            if *account == HOUSE || *quantity == 0 || rate_e18 == 0 {
                continue;
            }
            // Two-stage rounding: within two units of exact, always on the broker's side.
            check_against_exact(payment.amount, receives, numerator, denominator, 2);
        }
        // The house ends with at least its exact share: its exact payment is minus the exact
        // sum of the clients', and every client was rounded against.
        let house = payments.iter().find(|p| p.account == HOUSE).unwrap().amount;
        let house_quantity = positions.last().unwrap().1;
        let house_receives = (house_quantity > 0) == (rate_e18 < 0);
        let house_exact = big(house_quantity) * big(index_e18) * big(rate_e18);
        if house_quantity != 0 && rate_e18 != 0 && !house_receives {
            // Even as a payer the house pays no more than exact, thanks to the residue.
            prop_assert!(house > 0 || big(house) * denominator <= house_exact);
        }
    }

    #[test]
    fn option_expiry_is_zero_sum_and_exact_to_the_unit(
        sizes in prop::collection::vec(-1_000_000_000i128..=1_000_000_000, 1..20),
        strike_e18 in 1i128..=100_000 * ONE_E18,
        settlement_e18 in 1i128..=100_000 * ONE_E18,
        call in any::<bool>(),
        quantity_decimals in 0u8..=6,
        settlement_decimals in 0u8..=18,
    ) {
        let spec = ContractSpec::new(quantity_decimals, settlement_decimals).unwrap();
        let kind = if call { OptionKind::Call } else { OptionKind::Put };
        let positions = with_house(&sizes);
        let payments = settle_expiry(&positions, &HOUSE, kind, Price(strike_e18), Price(settlement_e18), spec).unwrap();
        prop_assert_eq!(sum(&payments), 0);
        let payoff = intrinsic_value(kind, Price(strike_e18), Price(settlement_e18)).unwrap().e18();
        let exact_payoff = if call { (settlement_e18 - strike_e18).max(0) } else { (strike_e18 - settlement_e18).max(0) };
        prop_assert_eq!(payoff, exact_payoff);
        let denominator = pow10(u32::from(quantity_decimals) + 18 - u32::from(settlement_decimals));
        let mut paid_in = U512::ZERO;
        let mut paid_out = U512::ZERO;
        for (payment, (account, quantity)) in payments.iter().zip(&positions) {
            if *account == HOUSE {
                continue;
            }
            let numerator = big(*quantity) * big(payoff);
            // One rounding of the exact product: floor for a long, ceil for a short.
            let floor = numerator / denominator;
            let ceil = (numerator + denominator - U512::from(1u8)) / denominator;
            if *quantity > 0 {
                prop_assert_eq!(big(payment.amount), floor);
                paid_out += big(payment.amount);
            } else {
                prop_assert!(payment.amount <= 0);
                prop_assert_eq!(big(payment.amount), ceil);
                paid_in += big(payment.amount);
            }
        }
        // Between clients alone the broker never pays out more than it takes in, unless the
        // house is itself short (then it pays the difference, exactly its position's due).
        if positions.last().unwrap().1 >= 0 {
            prop_assert!(paid_out <= paid_in);
        }
    }

    #[test]
    fn fees_charge_up_and_rebate_down(
        notional in 1i128..=1_000_000_000_000_000_000_000_000_000_000,
        taker_bps in 0i32..=1_000,
        maker_share in 0i32..=2_000,
    ) {
        // maker in [-taker, 1000]: maker_share spreads it over the allowed range.
        let maker_bps = (maker_share - taker_bps).min(1_000);
        let fees = FeeSchedule::new(maker_bps, taker_bps).unwrap().fill_fees(Amount(notional)).unwrap();
        prop_assert!(fees.fee_account_net() >= 0);
        // taker >= n t / 1e4 > taker - 1
        prop_assert!(big(fees.taker) * U512::from(10_000u16) >= big(notional) * big(i128::from(taker_bps)));
        prop_assert!(fees.taker == 0 || big(fees.taker - 1) * U512::from(10_000u16) < big(notional) * big(i128::from(taker_bps)));
        let maker_exact = big(notional) * big(i128::from(maker_bps));
        if maker_bps >= 0 {
            prop_assert!(fees.maker >= 0 && big(fees.maker) * U512::from(10_000u16) >= maker_exact);
        } else {
            prop_assert!(fees.maker <= 0 && big(fees.maker) * U512::from(10_000u16) <= maker_exact);
        }
    }

    #[test]
    fn a_positions_realised_pnl_never_exceeds_its_exact_cash_flow(
        fills in prop::collection::vec((-10_000i128..=10_000, 1i128..=100_000), 1..20),
        fractions in 0i128..ONE_E18,
    ) {
        // Two counterparties trade the same fills in opposite directions, then both close at the
        // last price. Each one's realised total is at most its exact cash flow
        // -sum(f_i * p_i) / 10^(q+18) (settlement units), so together they realise at most zero.
        let spec = ContractSpec::new(2, 6).unwrap();
        let mut buyer = PerpPosition::FLAT;
        let mut seller = PerpPosition::FLAT;
        let (mut buyer_realised, mut seller_realised, mut buyer_flow) = (0i128, 0i128, 0i128);
        let mut trades: Vec<(i128, i128)> = fills.iter().filter(|(q, _)| *q != 0).map(|(q, p)| (*q, p * ONE_E18 + fractions % ONE_E18)).collect();
        let net: i128 = trades.iter().map(|t| t.0).sum();
        if net != 0 {
            trades.push((-net, trades.last().map_or(ONE_E18, |t| t.1)));
        }
        for (quantity, price) in trades {
            let bought = buyer.apply_fill(quantity, Price(price), spec).unwrap();
            let sold = seller.apply_fill(-quantity, Price(price), spec).unwrap();
            buyer = bought.position;
            seller = sold.position;
            buyer_realised += bought.realised;
            seller_realised += sold.realised;
            buyer_flow -= quantity * price;
        }
        prop_assert_eq!(buyer, PerpPosition::FLAT);
        prop_assert_eq!(seller, PerpPosition::FLAT);
        // Units: realised * 10^(2 + 18 - 6) against the flow in 10^-(2+18).
        let unit = 100_000_000_000_000i128;
        prop_assert!(buyer_realised * unit <= buyer_flow);
        prop_assert!(seller_realised * unit <= -buyer_flow);
        prop_assert!(buyer_realised + seller_realised <= 0);
    }

    #[test]
    fn interest_indices_are_monotone_and_borrows_outgrow_supply(
        steps in prop::collection::vec((0i128..=2 * RAY, 0u64..=10_000_000), 1..20),
        amount in 0i128..=1_000_000_000_000_000_000_000_000,
    ) {
        let mut supply = InterestIndex::new(0);
        let mut borrow = InterestIndex::new(0);
        let mut now = 0u64;
        for (rate, elapsed) in steps {
            now += elapsed;
            let next_supply = supply.accrue(Side::Supply, rate, now).unwrap();
            let next_borrow = borrow.accrue(Side::Borrow, rate, now).unwrap();
            prop_assert!(next_supply.index_ray() >= supply.index_ray() && next_borrow.index_ray() >= borrow.index_ray());
            prop_assert!(next_borrow.index_ray() >= next_supply.index_ray());
            supply = next_supply;
            borrow = next_borrow;
            // A deposit is never worth more than was paid; a borrow never owes less than was lent.
            let deposit = mint_scaled(Side::Supply, amount, supply).unwrap();
            prop_assert!(balance_of(Side::Supply, deposit, supply).unwrap() <= amount);
            let debt = mint_scaled(Side::Borrow, amount, borrow).unwrap();
            prop_assert!(balance_of(Side::Borrow, debt, borrow).unwrap() >= amount);
            // Taking out the whole balance burns exactly the receipts; repaying the whole debt
            // burns exactly the debt shares: nothing is stranded and nothing is forgiven.
            let whole = balance_of(Side::Supply, deposit, supply).unwrap();
            prop_assert_eq!(burn_scaled(Side::Supply, deposit, whole, supply).unwrap(), deposit);
            let owed = balance_of(Side::Borrow, debt, borrow).unwrap();
            prop_assert_eq!(burn_scaled(Side::Borrow, debt, owed, borrow).unwrap(), debt);
        }
    }

    #[test]
    fn wrapping_a_staked_asset_never_creates_value(
        amount in 0i128..=1_000_000_000_000_000_000_000_000_000,
        rate_e18 in 1i128..=100 * ONE_E18,
    ) {
        let rate = ExchangeRate::new(rate_e18).unwrap();
        let shares = shares_for_deposit(amount, rate).unwrap();
        prop_assert!(value_of_shares(shares, rate).unwrap() <= amount);
    }

    #[test]
    fn prediction_payouts_release_the_collateral_exactly(
        yes in prop::collection::vec(0i128..=1_000_000_000, 1..20),
        outcome in 0u8..3,
        quantity_decimals in 0u8..=6,
        settlement_decimals in 0u8..=18,
    ) {
        let spec = ContractSpec::new(quantity_decimals, settlement_decimals).unwrap();
        let outcome = [Outcome::Yes, Outcome::No, Outcome::Invalid][usize::from(outcome)];
        // NO shares are the YES shares rotated by one account: the totals match (complete sets).
        let holdings: Vec<Holding<u32>> = (0..yes.len()).map(|i| Holding { account: i as u32, yes: yes[i], no: yes[(i + 1) % yes.len()] }).collect();
        let sets: i128 = yes.iter().sum();
        let collateral = spec.settlement_value(sets, Price(ONE_E18), money::Rounding::Ceil).unwrap();
        let payments = resolve(&holdings, outcome, spec, &HOUSE, collateral).unwrap();
        prop_assert_eq!(sum(&payments), collateral);
        let (yes_pays, no_pays) = payout_per_share(outcome);
        let denominator = pow10(u32::from(quantity_decimals) + 18 - u32::from(settlement_decimals));
        for (payment, holding) in payments.iter().zip(&holdings) {
            let exact = big(holding.yes) * big(yes_pays.e18()) + big(holding.no) * big(no_pays.e18());
            prop_assert!(payment.amount >= 0 && big(payment.amount) * denominator <= exact);
        }
        prop_assert!(payments.last().unwrap().amount >= 0);
    }
}
