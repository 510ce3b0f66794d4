//! Who may do what. Checked after the principal is known and before anything else, so an
//! unauthorized command is refused, never journalled, and changes nothing.
//!
//! | command | operator | owner | auditor |
//! |---|---|---|---|
//! | configure, register_principal, deposit, confirm_withdrawal, set_price, set_hold, advance_time, install_risk_model_part, set_hedging, hedge_executed, cancel_hedge | yes | no | no |
//! | create_account | any owner | its own name only | no |
//! | request_withdrawal, transfer | no | its own accounts only | no |
//! | cancel_withdrawal | yes | its own withdrawals only | no |
//!
//! A `feed` principal sends `set_price` only (an oracle source, `oracle_feed`).

use crate::{Command, Engine, EngineError, owner_of};
use model::Role;

impl Engine {
    pub(crate) fn authorize(&self, principal: &str, role: Role, command: &Command) -> Result<(), EngineError> {
        let refuse = |why: &str| EngineError::Unauthorized { principal: principal.into(), action: action(command).into(), why: why.into() };
        match (role, command) {
            (Role::Auditor, _) => Err(refuse("an auditor only reads")),
            (Role::Feed, Command::SetPrice { .. }) => Ok(()),
            (Role::Feed, _) => Err(refuse("a feed only prints prices")),
            (_, Command::Genesis { .. }) => Err(EngineError::AlreadyInitialised),
            (
                Role::Operator,
                Command::RequestWithdrawal { .. }
                | Command::Transfer { .. }
                | Command::PlaceOrder { .. }
                | Command::AmendOrder { .. }
                | Command::BidLiquidation { .. },
            ) => Err(refuse("only the account's owner moves its funds")),
            (Role::Operator, _) => Ok(()),
            (Role::Owner, Command::CreateAccount { owner, .. }) => own(principal, owner).ok_or_else(|| refuse("not its own name")),
            (Role::Owner, Command::RequestWithdrawal { account, .. }) => {
                own(principal, owner_of(account)).ok_or_else(|| refuse("not its own account"))
            }
            (Role::Owner, Command::Transfer { from, to, .. }) => {
                own(principal, owner_of(from)).and(own(principal, owner_of(to))).ok_or_else(|| refuse("not its own accounts"))
            }
            (
                Role::Owner,
                Command::PlaceOrder { account, .. }
                | Command::AmendOrder { account, .. }
                | Command::CancelOrder { account, .. }
                | Command::CancelAllOrders { account, .. }
                | Command::BidLiquidation { account, .. },
            ) => own(principal, owner_of(account)).ok_or_else(|| refuse("not its own account")),
            (Role::Owner, Command::CancelWithdrawal { withdrawal_id }) => {
                let owner = self.withdrawal_owner(withdrawal_id);
                // An unknown withdrawal is the owner's own business: it gets `unknown_withdrawal`.
                owner.is_none_or(|o| o == principal).then_some(()).ok_or_else(|| refuse("not its own withdrawal"))
            }
            (Role::Owner, _) => Err(refuse("an operator's command")),
        }
    }
}

fn own(principal: &str, owner: &str) -> Option<()> {
    (principal == owner).then_some(())
}

fn action(command: &Command) -> &'static str {
    match command {
        Command::Genesis { .. } => "genesis",
        Command::Configure { .. } => "configure",
        Command::RegisterPrincipal { .. } => "register_principal",
        Command::CreateAccount { .. } => "create_account",
        Command::Deposit { .. } => "deposit",
        Command::RequestWithdrawal { .. } => "request_withdrawal",
        Command::ConfirmWithdrawal { .. } => "confirm_withdrawal",
        Command::CancelWithdrawal { .. } => "cancel_withdrawal",
        Command::Transfer { .. } => "transfer",
        Command::SetPrice { .. } => "set_price",
        Command::SetHold { .. } => "set_hold",
        Command::AdvanceTime { .. } => "advance_time",
        Command::PlaceOrder { .. } => "place_order",
        Command::AmendOrder { .. } => "amend_order",
        Command::CancelOrder { .. } => "cancel_order",
        Command::CancelAllOrders { .. } => "cancel_all_orders",
        Command::InstallRiskModelPart { .. } => "install_risk_model_part",
        Command::SetHedging { .. } => "set_hedging",
        Command::HedgeExecuted { .. } => "hedge_executed",
        Command::CancelHedge { .. } => "cancel_hedge",
        Command::RegisterLiquidator { .. } => "register_liquidator",
        Command::BidLiquidation { .. } => "bid_liquidation",
        Command::FundInsurance { .. } => "fund_insurance",
        Command::SetMarginAddOn { .. } => "set_margin_add_on",
        Command::VenueFund { .. } => "venue_fund",
        Command::VenueDefund { .. } => "venue_defund",
        Command::VenueSettled { .. } => "venue_settled",
        Command::DepositHouseCapital { .. } => "deposit_house_capital",
    }
}
