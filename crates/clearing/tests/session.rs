//! A random session of clients trading among themselves, every clearing result posted as
//! double-entry transfers in a toy ledger (the recipes of docs/clearing.md): spot fills, perpetual
//! fills with fees and realised P&L against the house, funding, option trades and expiry.
//! After every step each asset sums to zero; at the end, with every position closed or expired,
//! neither the house nor the fee account has lost: rounding never lets clients extract money.

use clearing::fees::FeeSchedule;
use clearing::funding::settle_funding;
use clearing::options::{OptionKind, settle_expiry};
use clearing::pnl::PerpPosition;
use clearing::spot::settle_spot_fill;
use clearing::{ContractSpec, ONE_E18, Payment, Price};
use money::{Amount, Rounding};
use proptest::prelude::*;
use std::collections::BTreeMap;

const CLIENTS: u32 = 4;
const HOUSE: u32 = 100;
const FEES: u32 = 101;
const USDC: u8 = 0;
const ETH: u8 = 1;

#[derive(Default)]
struct Ledger {
    balances: BTreeMap<(u32, u8), i128>,
}

impl Ledger {
    /// Moves `amount` of `asset` from `from` to `to` (negative moves the other way).
    fn transfer(&mut self, from: u32, to: u32, asset: u8, amount: i128) {
        *self.balances.entry((from, asset)).or_default() -= amount;
        *self.balances.entry((to, asset)).or_default() += amount;
        for asset in [USDC, ETH] {
            let total: i128 = self.balances.iter().filter(|((_, a), _)| *a == asset).map(|(_, b)| b).sum();
            assert_eq!(total, 0, "asset {asset} is not conserved");
        }
    }
    fn balance(&self, account: u32, asset: u8) -> i128 {
        self.balances.get(&(account, asset)).copied().unwrap_or(0)
    }
    /// A zero-sum payment list: each holder against the house (the house's net is its entry).
    fn post_against_house(&mut self, payments: &[Payment<u32>]) {
        let before = self.balance(HOUSE, USDC);
        let house_entry = payments.iter().find(|p| p.account == HOUSE).map_or(0, |p| p.amount);
        for payment in payments.iter().filter(|p| p.account != HOUSE) {
            self.transfer(HOUSE, payment.account, USDC, payment.amount);
        }
        assert_eq!(self.balance(HOUSE, USDC) - before, house_entry);
    }
}

#[derive(Debug, Clone)]
enum Step {
    Spot { buyer: u32, seller: u32, quantity: i128, price: i128 },
    Perp { buyer: u32, seller: u32, quantity: i128, price: i128 },
    Funding { index: i128, rate: i128 },
    Option { buyer: u32, seller: u32, quantity: i128 },
}

fn step() -> impl Strategy<Value = Step> {
    let pair = (0..CLIENTS, 1..CLIENTS).prop_map(|(a, d)| (a, (a + d) % CLIENTS));
    let price = 1_000 * ONE_E18..3_000 * ONE_E18;
    prop_oneof![
        (pair.clone(), 1i128..10_000_000_000_000_000, price.clone()).prop_map(|((buyer, seller), quantity, price)| Step::Spot {
            buyer,
            seller,
            quantity,
            price
        }),
        (pair.clone(), 1i128..1_000, price.clone()).prop_map(|((buyer, seller), quantity, price)| Step::Perp {
            buyer,
            seller,
            quantity,
            price
        }),
        (price, -1_000_000_000_000_000i128..1_000_000_000_000_000).prop_map(|(index, rate)| Step::Funding { index, rate }),
        (pair, 1i128..1_000).prop_map(|((buyer, seller), quantity)| Step::Option { buyer, seller, quantity }),
    ]
}

struct Session {
    ledger: Ledger,
    perps: BTreeMap<u32, PerpPosition>,
    options: BTreeMap<u32, i128>,
    perp_spec: ContractSpec,
    fees: FeeSchedule,
}

impl Session {
    fn perp_fill(&mut self, buyer: u32, seller: u32, quantity: i128, price: i128) {
        for (account, signed) in [(buyer, quantity), (seller, -quantity)] {
            let result = self.perps[&account].apply_fill(signed, Price(price), self.perp_spec).unwrap();
            self.perps.insert(account, result.position);
            self.ledger.transfer(HOUSE, account, USDC, result.realised);
        }
        let notional = self.perp_spec.settlement_value(quantity, Price(price), Rounding::Ceil).unwrap();
        let fees = self.fees.fill_fees(Amount(notional)).unwrap();
        self.ledger.transfer(buyer, FEES, USDC, fees.taker);
        self.ledger.transfer(seller, FEES, USDC, fees.maker);
    }

    fn apply(&mut self, step: Step) {
        match step {
            Step::Spot { buyer, seller, quantity, price } => {
                let fill = settle_spot_fill(quantity, Price(price), ContractSpec::new(18, 6).unwrap()).unwrap();
                self.ledger.transfer(seller, buyer, ETH, quantity);
                self.ledger.transfer(buyer, seller, USDC, fill.seller_receives);
                self.ledger.transfer(buyer, HOUSE, USDC, fill.house_residue);
            }
            Step::Perp { buyer, seller, quantity, price } => self.perp_fill(buyer, seller, quantity, price),
            Step::Funding { index, rate } => {
                let positions: Vec<(u32, i128)> = self.perps.iter().map(|(a, p)| (*a, p.quantity)).collect();
                let payments = settle_funding(&positions, &HOUSE, Price(index), rate, self.perp_spec).unwrap();
                self.ledger.post_against_house(&payments);
            }
            Step::Option { buyer, seller, quantity } => {
                *self.options.get_mut(&buyer).unwrap() += quantity;
                *self.options.get_mut(&seller).unwrap() -= quantity;
            }
        }
    }

    /// Closes every perpetual position by matching longs with shorts at `price`.
    fn close_perps(&mut self, price: i128) {
        loop {
            let long = self.perps.iter().find(|(_, p)| p.quantity > 0).map(|(a, p)| (*a, p.quantity));
            let short = self.perps.iter().find(|(_, p)| p.quantity < 0).map(|(a, p)| (*a, p.quantity));
            match (long, short) {
                (Some((seller, held)), Some((buyer, owed))) => self.perp_fill(buyer, seller, held.min(-owed), price),
                (None, None) => return,
                _ => panic!("client perpetual positions do not net to zero"),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn clients_trading_among_themselves_never_extract_money(
        steps in prop::collection::vec(step(), 1..40),
        close_price in 1_000 * ONE_E18..3_000 * ONE_E18,
        settlement in 1_000 * ONE_E18..3_000 * ONE_E18,
        call in any::<bool>(),
    ) {
        let mut session = Session {
            ledger: Ledger::default(),
            perps: (0..CLIENTS).map(|a| (a, PerpPosition::FLAT)).collect(),
            options: (0..CLIENTS).map(|a| (a, 0)).collect(),
            perp_spec: ContractSpec::new(2, 6).unwrap(),
            fees: FeeSchedule::new(-2, 5).unwrap(),
        };
        for step in steps {
            session.apply(step);
        }
        session.close_perps(close_price);
        let positions: Vec<(u32, i128)> = session.options.iter().map(|(a, q)| (*a, *q)).collect();
        let kind = if call { OptionKind::Call } else { OptionKind::Put };
        let spec = ContractSpec::new(1, 6).unwrap();
        let payments = settle_expiry(&positions, &HOUSE, kind, Price(2_000 * ONE_E18), Price(settlement), spec).unwrap();
        session.ledger.post_against_house(&payments);
        prop_assert!(session.perps.values().all(|p| *p == PerpPosition::FLAT));
        prop_assert!(session.ledger.balance(HOUSE, USDC) >= 0, "the house lost {}", session.ledger.balance(HOUSE, USDC));
        prop_assert!(session.ledger.balance(FEES, USDC) >= 0);
        prop_assert_eq!(session.ledger.balance(HOUSE, ETH), 0);
    }
}
