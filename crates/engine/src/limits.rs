//! Limits reconciled by computation (TigerBeetle style): from the configured limits, the
//! largest journal record (command and result) and the largest snapshot the engine can ever
//! produce are computed and must fit the journal's limits. The engine refuses a genesis or a
//! `set_limits` that would break this, and the node asserts at start that the journal's own
//! limits are at least [`RECORD_BYTES_MAX`] and [`SNAPSHOT_BYTES_MAX`].
//!
//! The bounds are computed from the encodings themselves: each worst-case entry (longest
//! names, extreme integers, characters that JSON escapes) is encoded and measured, then
//! multiplied by the largest count the limits allow.

use crate::sessions::{COMMAND_DIGEST_LEN, Session};
use crate::state_config::{AssetDef, CONFIG_LIST_LEN_MAX, CustodianDef, Settings};
use crate::withdrawals::OVERDUE_REPORTS_PER_COMMAND_MAX;
use crate::*;
use ledger::{Balance, PendingTransfer, Reason};
use model::{Limits, NAME_LEN_MAX, PrincipalConfig};
use std::sync::OnceLock;

/// The largest command and the largest result the engine journals, in bytes.
pub const RECORD_BYTES_MAX: usize = 1 << 20;
/// The largest snapshot the engine writes, in bytes: 6 GiB, room for 1,000,000 accounts and
/// 1,000,000 principals at the default 32 assets (a bound of 4.17 GB, about 4.1 KB per account
/// with its owner at their worst). The journal stores it in chunks (`docs/journal.md`,
/// "Chunked snapshots"); writing one holds the encoding and the state in memory at once, so the
/// bound is sized for a machine of 24 GiB (`docs/performance.md`, "1M accounts").
pub const SNAPSHOT_BYTES_MAX: u64 = 6 << 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error("the largest {what} these limits allow is {bytes} bytes, above the journal's {max}")]
    TooLarge { what: &'static str, bytes: u64, max: u64 },
}

/// The counts a snapshot bound is computed for (the limits' maxima, or an engine's actual counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub accounts: u64,
    pub assets: u64,
    pub custodians: u64,
    pub principals: u64,
    pub ids_per_principal: u64,
    pub withdrawals: u64,
    pub references: u64,
    pub markets: u64,
    pub orders_per_market: u64,
}

impl Counts {
    pub fn of_limits(l: &Limits) -> Counts {
        Counts {
            accounts: l.accounts_max as u64 + u64::from(broker_accounts_max(l)),
            assets: l.assets_max as u64,
            custodians: l.custodians_max as u64,
            // The node's own @system principal comes on top of the limit.
            principals: l.principals_max as u64 + 1,
            ids_per_principal: l.client_ids_window as u64,
            withdrawals: l.pending_withdrawals_max as u64,
            references: l.deposit_refs_max,
            markets: l.markets_max as u64,
            orders_per_market: l.market_orders_max as u64,
        }
    }
}

/// A market whose one command could produce a result above the record limit is refused: a
/// taker may fill against every resting order (two events per turn of the matching loop, plus
/// acceptance and a final rest or cancel).
pub fn check_market(market: &model::Market) -> Result<(), LimitsError> {
    let bytes = match market.kind {
        model::MarketKind::Spot => market_result_bytes(market.book_orders_max) + health_events_bytes() + hedging::step_bytes(),
        _ => derivative_order_bytes(market.book_orders_max),
    };
    if bytes > RECORD_BYTES_MAX as u64 {
        return Err(LimitsError::TooLarge { what: "order result", bytes, max: RECORD_BYTES_MAX as u64 });
    }
    Ok(())
}

/// The largest result of one order command on a derivative book, with the reports of the
/// auctions it ends and the hedging step's reserve (one cancellation and one request: the step
/// measures what it adds and defers the rest).
pub fn derivative_order_bytes(book_orders_max: u32) -> u64 {
    derivative_result_bytes(book_orders_max) + auctions_ended_bytes(book_orders_max) + hedging::step_bytes()
}

/// The `liquidation_ended` reports of the auctions an order command shrinks to nothing before the
/// liquidation step measures anything: one per account whose position it moved (every maker
/// and the taker).
pub fn auctions_ended_bytes(book_orders_max: u32) -> u64 {
    let ended = Event::LiquidationEnded { seq: u64::MAX, account: "x".repeat(FIELD_BYTES_MAX) };
    (u64::from(book_orders_max) + 1) * (json_len(&ended) + 1)
}

/// The largest result of one order command on a book of at most `book_orders_max` orders.
pub fn market_result_bytes(book_orders_max: u32) -> u64 {
    // Market ids are identifiers, accounts `owner/sub` names, amounts decimals of an i128 at a
    // scale of at most 36: none needs escaping in JSON.
    let decimal = || "9".repeat(DECIMAL_TEXT_LEN_MAX);
    let account = || "x".repeat(FIELD_BYTES_MAX);
    let filled = Event::OrderFilled {
        market: worst_name(),
        maker_order_id: u64::MAX,
        maker_account: account(),
        taker_order_id: u64::MAX,
        taker_account: account(),
        taker_side: markets::OrderSide::Sell,
        price: decimal(),
        qty: decimal(),
        quote_amount: decimal(),
        maker_fee: decimal(),
        taker_fee: decimal(),
    };
    let one = json_len(&filled) + 1;
    let events = 2 * (book_orders_max as u64 + 1) + 3;
    let house = json_len(&Event::HouseFilled {
        market: worst_name(),
        account: account(),
        client_order_id: u64::MAX,
        side: markets::OrderSide::Sell,
        price: decimal(),
        qty: decimal(),
        quote_amount: decimal(),
        fee: decimal(),
    }) + json_len(&Event::HouseExposureChanged { asset: worst_name(), exposure: decimal() })
        + 2;
    json_len(&Outcome::Applied { seq: u64::MAX, events: vec![] }) + (events * one).max(house)
}

/// What the health step may add to any command's result: the most flag changes one command
/// reports.
pub fn health_events_bytes() -> u64 {
    let health = Event::HealthChanged {
        account: "x".repeat(FIELD_BYTES_MAX),
        from: Health::Healthy,
        to: Health::Liquidation,
        equity: "9".repeat(DECIMAL_TEXT_LEN_MAX),
        im: "9".repeat(DECIMAL_TEXT_LEN_MAX),
        mm: "9".repeat(DECIMAL_TEXT_LEN_MAX),
    };
    (json_len(&health) + 1) * health::HEALTH_EVENTS_PER_COMMAND_MAX as u64
}

/// Events one derivative fill may add besides its `OrderFilled`: two `PositionChanged`, two
/// `Settled`, and a borrow or a repayment (`BorrowChanged` with `InterestAccrued`) for each of
/// six payments (two fees, a rebate, a premium paid and received, a settlement per side) and of
/// the two assets repaid after the book command.
pub const DERIVATIVE_FILL_EVENTS_MAX: u64 = 2 + 2 + 2 * 6 + 2 * 2;

/// The largest result of one order command on a derivative book of at most `book_orders_max`
/// orders: every resting order filled with the events above, or reduced or cancelled, plus the
/// taker's acceptance and final rest or cancel.
pub fn derivative_result_bytes(book_orders_max: u32) -> u64 {
    // `market_result_bytes(0)` is an empty outcome and five spot events, each at most a fill.
    let one = ((market_result_bytes(0) - json_len(&Outcome::Applied { seq: u64::MAX, events: vec![] })) / 5).max(derivative_event_bytes());
    let per_fill = one + derivative_event_bytes() * DERIVATIVE_FILL_EVENTS_MAX;
    json_len(&Outcome::Applied { seq: u64::MAX, events: vec![] })
        + u64::from(book_orders_max) * (per_fill + one)
        + 3 * one
        + health_events_bytes()
}

/// The longest of the events derivatives add, plus its separator.
fn derivative_event_bytes() -> u64 {
    static BYTES: OnceLock<u64> = OnceLock::new();
    *BYTES.get_or_init(measure_derivative_event_bytes)
}

fn measure_derivative_event_bytes() -> u64 {
    let (decimal, account, name) = (|| "9".repeat(DECIMAL_TEXT_LEN_MAX), || "x".repeat(FIELD_BYTES_MAX), worst_name);
    let seq = u64::MAX;
    let events = [
        Event::PositionChanged { seq, market: name(), account: account(), qty: decimal(), entry_cost: decimal(), realised: decimal() },
        Event::FundingPaid { seq, market: name(), account: account(), asset: name(), amount: decimal(), rate: decimal() },
        Event::Settled {
            seq,
            market: name(),
            account: account(),
            asset: name(),
            amount: decimal(),
            price: decimal(),
            reason: "mark_to_market".into(),
        },
        Event::BorrowChanged { seq, account: account(), asset: name(), amount: decimal(), debt: decimal() },
        Event::InterestAccrued { seq, account: account(), asset: name(), interest: decimal(), debt: decimal() },
        Event::OptionExpired { seq, market: name(), settlement_price: decimal() },
        Event::FundingIndexMoved { seq, market: name(), rate: decimal(), index: decimal(), mark: decimal(), funding_index: decimal() },
        Event::OptionExpiryFailed { seq, market: name(), why: "x".repeat(256) },
        Event::OrderCancelled { market: name(), order_id: u64::MAX, account: account(), removed: decimal(), reason: "Unfilled".into() },
    ];
    events.iter().map(json_len).max().unwrap_or(0) + 1
}

/// The result of the `advance_time` that crosses every derivative market's boundary or expiry
/// at once (a funding index per perp, an expiry per option with the cancellation of its resting
/// orders; the holders settle later, [`crate::settle`]) must fit a journal record, and the
/// markets together may allow at most [`POSITIONS_TOTAL_MAX`] positions.
pub fn check_settlement_result(markets: &[&model::Market]) -> Result<(), LimitsError> {
    let health = health_events_bytes() / health::HEALTH_EVENTS_PER_COMMAND_MAX as u64 * health::HEALTH_EVENTS_PER_CLOCK_MAX as u64;
    let bytes = settlement_result_bytes(markets) + health;
    if bytes > RECORD_BYTES_MAX as u64 {
        return Err(LimitsError::TooLarge { what: "settlement result of one advance_time", bytes, max: RECORD_BYTES_MAX as u64 });
    }
    let total: u64 = markets.iter().filter_map(|m| m.positions_max).map(u64::from).sum();
    if total > POSITIONS_TOTAL_MAX {
        return Err(LimitsError::TooLarge { what: "positions_max summed over the markets", bytes: total, max: POSITIONS_TOTAL_MAX });
    }
    Ok(())
}

/// The most positions all derivative markets together may allow (the sum of their
/// `positions_max`). No command's result grows with them (they settle lazily,
/// [`crate::settle`]); the bound keeps the snapshot's share of positions, about 104 bytes each,
/// modest (about 5 MB, [`snapshot_bytes_bound`]).
pub const POSITIONS_TOTAL_MAX: u64 = 49_152;

/// The most positions one derivative market may allow: all of [`POSITIONS_TOTAL_MAX`].
pub fn positions_per_market_max() -> u64 {
    POSITIONS_TOTAL_MAX
}

/// The most one position's settlement adds to a result ([`crate::settle`]): the sweep settles
/// another position only while this much room is left.
pub fn settlement_position_bytes() -> u64 {
    crate::settle::settlement_events_max() * derivative_event_bytes()
}

/// The largest result of an `advance_time` that crosses a boundary of every derivative market
/// of `markets`: O(markets), whatever their holders.
pub fn settlement_result_bytes(markets: &[&model::Market]) -> u64 {
    let mut events: u64 = 0;
    for m in markets {
        let orders = u64::from(m.book_orders_max);
        events += match m.kind {
            model::MarketKind::Spot => 0,
            model::MarketKind::Perp => 1,
            model::MarketKind::Option => 1 + 5 * orders,
        };
    }
    let overdue = Event::WithdrawalOverdue { withdrawal_id: worst_reference(), due_ms: u64::MAX };
    let clock = json_len(&overdue) * (OVERDUE_REPORTS_PER_COMMAND_MAX as u64 + 1);
    clock + events * derivative_event_bytes() + 64
}

/// The longest decimal text of an `i128` at a scale of at most 36: 39 digits, a point, a sign.
const DECIMAL_TEXT_LEN_MAX: usize = 41;

pub fn reconcile(limits: &Limits) -> Result<(), LimitsError> {
    let checks = [
        ("result", largest_result_bytes(limits), RECORD_BYTES_MAX as u64),
        ("command", largest_command_bytes(limits), RECORD_BYTES_MAX as u64),
        ("snapshot", snapshot_bytes_bound(&Counts::of_limits(limits)), SNAPSHOT_BYTES_MAX),
        (
            "order result",
            market_result_bytes(limits.market_orders_max) + health_events_bytes() + hedging::step_bytes(),
            RECORD_BYTES_MAX as u64,
        ),
    ];
    for (what, bytes, max) in checks {
        if bytes > max {
            return Err(LimitsError::TooLarge { what, bytes, max });
        }
    }
    Ok(())
}

fn json_len<T: serde::Serialize>(value: &T) -> u64 {
    serde_json::to_vec(value).expect("plain data serialises").len() as u64
}

fn postcard_len<T: serde::Serialize>(value: &T) -> u64 {
    postcard::to_allocvec(value).expect("plain data serialises").len() as u64
}

/// A field of the longest length, of the character JSON escapes longest among those allowed.
fn worst_field() -> String {
    "\"".repeat(FIELD_BYTES_MAX)
}

fn worst_name() -> String {
    "x".repeat(NAME_LEN_MAX as usize)
}

fn worst_reference() -> String {
    "x".repeat(execute::REFERENCE_LEN_MAX)
}

/// The largest journalled outcome: an `advance_time` reporting the most overdue withdrawals,
/// a withdrawal's events, a configuration change, or the longest error.
pub fn largest_result_bytes(limits: &Limits) -> u64 {
    let overdue = Event::WithdrawalOverdue { withdrawal_id: worst_reference(), due_ms: u64::MAX };
    let mut events = vec![Event::TimeAdvanced { now_ms: u64::MAX }];
    events.extend(std::iter::repeat_n(overdue, OVERDUE_REPORTS_PER_COMMAND_MAX));
    let advance = json_len(&Outcome::Applied { seq: u64::MAX, events });
    let f = worst_field;
    let errors = [
        EngineError::InsufficientCustody { custodian: f(), asset: f(), needed: f(), held: f() },
        EngineError::InsufficientBalance { account: f(), asset: f(), needed: f(), available: f() },
        EngineError::Unauthorized { principal: f(), action: f(), why: f() },
        EngineError::MalformedAmount { input: f(), reason: f() },
        EngineError::ConfigRefused { key: f(), why: f() },
        EngineError::PricePrintRejected { symbol: f(), principal: f(), why: f() },
    ];
    let error = errors.into_iter().map(|error| json_len(&Outcome::Rejected { seq: u64::MAX, error })).max().unwrap_or(0);
    let custodian = CustodianDef { id: worst_name(), assets: vec![worst_name(); limits.assets_max as usize] };
    let change = ConfigChange::AddCustodian { id: custodian.id, assets: custodian.assets };
    let configure =
        json_len(&Outcome::Applied { seq: u64::MAX, events: vec![Event::ConfigChanged { change, config_digest: hex(&[0; 32]) }] });
    let withdrawal = json_len(&Outcome::Applied {
        seq: u64::MAX,
        events: vec![
            Event::WithdrawalConfirmed { withdrawal_id: worst_reference(), chain_ref: worst_reference() },
            Event::Transferred { debit: f(), credit: f(), asset: f(), amount: f(), reason: Reason::Withdrawal },
        ],
    });
    let price = json_len(&Outcome::Applied {
        seq: u64::MAX,
        events: vec![
            Event::PriceClamped {
                symbol: f(),
                median_usd: "9".repeat(DECIMAL_TEXT_LEN_MAX),
                guarded_usd: "9".repeat(DECIMAL_TEXT_LEN_MAX),
            },
            Event::PriceSet { symbol: f(), price_usd: "9".repeat(DECIMAL_TEXT_LEN_MAX) },
        ],
    });
    let execution = json_len(&Outcome::Applied {
        seq: u64::MAX,
        events: vec![
            Event::Transferred { debit: f(), credit: f(), asset: f(), amount: f(), reason: Reason::Trade },
            Event::Transferred { debit: f(), credit: f(), asset: f(), amount: f(), reason: Reason::Trade },
            Event::HedgeFilled { hedge_id: u64::MAX, venue: f(), qty: f(), rest: f(), chain_ref: worst_reference() },
            Event::HouseExposureChanged { asset: f(), exposure: f() },
        ],
    });
    let own = advance.max(error).max(configure).max(withdrawal).max(price).max(execution).max(hedging::set_hedging_result_bytes());
    // Any applied command may carry the health step's events and the hedging step's on top of
    // its own.
    own + health_events_bytes() + hedging::step_bytes()
}

/// The largest journalled command: a genesis whose lists are as long as the limits (and the
/// hard cap on configuration lists) allow, or a configuration change.
pub fn largest_command_bytes(limits: &Limits) -> u64 {
    let config = largest_config(limits.assets_max as u64, limits.custodians_max as u64, limits.principals_max as u64);
    let genesis = json_len(&Envelope { client: worst_name(), id: u64::MAX, command: Command::Genesis { config: Box::new(config) } });
    let part = Command::InstallRiskModelPart {
        digest: "f".repeat(64),
        part: u32::MAX,
        parts: u32::MAX,
        data: "f".repeat(2 * risk_model::RISK_MODEL_PART_BYTES_MAX),
    };
    genesis.max(json_len(&Envelope { client: worst_name(), id: u64::MAX, command: part }))
}

/// The longest configuration with at most these list lengths (and the hard cap on lists).
fn largest_config(assets: u64, custodians: u64, principals: u64) -> StateConfig {
    let cap = |n: u64| n.min(CONFIG_LIST_LEN_MAX as u64) as usize;
    let (assets, custodians, principals) = (cap(assets), cap(custodians), cap(principals));
    StateConfig {
        assets: vec![AssetDef { symbol: worst_name(), decimals: u8::MAX }; assets],
        underlyings: vec![worst_name(); assets],
        custodians: vec![CustodianDef { id: worst_name(), assets: vec![worst_name(); assets] }; custodians],
        principals: vec![PrincipalConfig { name: worst_name(), role: model::Role::Auditor }; principals],
        markets: vec![],
        limits: Limits {
            accounts_max: u32::MAX,
            sub_accounts_per_owner_max: u32::MAX,
            assets_max: u32::MAX,
            custodians_max: u32::MAX,
            principals_max: u32::MAX,
            client_ids_window: u32::MAX,
            batch_commands_max: u32::MAX,
            pending_withdrawals_max: u32::MAX,
            pending_withdrawals_per_account_max: u32::MAX,
            deposit_refs_max: u64::MAX,
            name_len_max: u32::MAX,
            markets_max: u32::MAX,
            market_orders_max: u32::MAX,
        },
        settings: Settings {
            withdrawal_confirm_timeout_ms: u64::MAX,
            time_step_ms_max: u64::MAX,
            risk_model_max_age_ms: Some(u64::MAX),
            stable_price_prints: Some(u32::MAX),
            borrow_rate_bps: u32::MAX,
        },
        liquidation: Some(model::LiquidationConfig {
            target_ppm: u32::MAX,
            step_ppm: u32::MAX,
            throttle_ppm: u32::MAX,
            start_discount_bps: u32::MAX,
            growth_bps_per_s: u32::MAX,
            cap_bps: u32::MAX,
            duration_ms: u64::MAX,
            penalty_bps: u32::MAX,
            insurance_ppm: u32::MAX,
            accounts_per_command_max: u32::MAX,
            last_resort: model::LastResort::Socialise,
            insurance_fee_ppm: Some(u32::MAX),
        }),
        oracles: vec![worst_oracle(); 2 * assets],
    }
}

/// The longest oracle entry: the most sources, each of the longest name.
fn worst_oracle() -> model::OracleDef {
    model::OracleDef {
        symbol: worst_name(),
        sources: vec![worst_name(); oracle::SOURCES_MAX],
        quorum: u32::MAX,
        staleness_ms: u64::MAX,
        max_move_bps: u32::MAX,
        stable_growth_bps_per_hour: u32::MAX,
    }
}

/// The largest guard image: every source printed, a reading taken.
fn worst_guard_bytes() -> u64 {
    let print = postcard_len(&Some((i128::MIN, u64::MAX)));
    let reading =
        postcard_len(&Some((oracle::Reading { median: i128::MIN, guarded: i128::MIN, stable: i128::MIN, fresh: usize::MAX }, u64::MAX)));
    let params = postcard_len(&(usize::MAX, usize::MAX, u64::MAX, u32::MAX, u32::MAX));
    postcard_len(&worst_name()) + params + 10 + oracle::SOURCES_MAX as u64 * print + reading
}

/// An upper bound of the encoded snapshot of an engine with at most these counts.
pub fn snapshot_bytes_bound(c: &Counts) -> u64 {
    let config = postcard_len(&largest_config(c.assets, c.custodians, CONFIG_LIST_LEN_MAX as u64));
    let worst = i128::MIN;
    let balance = postcard_len(&(AccountIdx(u32::MAX), AssetIdx(u16::MAX), Balance { posted: worst, reserved: worst, incoming: worst }));
    let transfer = Transfer {
        debit: AccountIdx(u32::MAX),
        credit: AccountIdx(u32::MAX),
        asset: AssetIdx(u16::MAX),
        amount: worst,
        reason: Reason::Withdrawal,
        command_seq: u64::MAX,
    };
    let pending = postcard_len(&PendingTransfer { id: PendingId(u64::MAX), transfer });
    let account = postcard_len(&(
        format!("{}/{}", worst_name(), worst_name()),
        AccountKind::Trader,
        ledger::AccountPolicy::NonPositive,
        AccountIdx(u32::MAX),
    ));
    let withdrawal = postcard_len(&(
        worst_reference(),
        Withdrawal {
            pending: PendingId(u64::MAX),
            account: AccountIdx(u32::MAX),
            destination: worst_reference(),
            due_ms: u64::MAX,
            overdue_reported: true,
        },
    ));
    let price = postcard_len(&(worst_name(), UsdPrice(i128::MIN), u64::MAX));
    let session =
        postcard_len(&(worst_name(), Session { role: model::Role::Auditor, window: Default::default(), watermark: Some(u64::MAX) }));
    let id = postcard_len(&(u64::MAX, (u64::MAX, [u8::MAX; COMMAND_DIGEST_LEN])));
    // An initial-margin add-on per owner principal at most.
    let add_on = postcard_len(&(worst_name(), i128::MIN));
    let fact = 1 + 4 + 2 * NAME_LEN_MAX as u64 + 1 + 16;
    // Two fact logs (books, sessions), each with at most one partial chunk.
    let fixed = 256 + 2 * LOG_CHUNK_FACTS as u64 * fact;
    // Each resting order: its image in the book, and at most one hold of its account per asset.
    let order = book_order_bytes();
    let hold = postcard_len(&((AccountIdx(u32::MAX), u16::MAX, AssetIdx(u16::MAX)), (PendingId(u64::MAX), i128::MIN))) + pending;
    let market = postcard_len(&worst_market());
    // Derivatives: at most [`POSITIONS_TOTAL_MAX`] positions over all markets, each with the
    // indices it settled at, and the sweep's cursor; a borrow per account and settlement asset (only derivative
    // clearing lends, in a market's quote: at most one asset per market), an index per asset,
    // and per market its clearing state and an underlying's oracle history.
    let settled = crate::settle::SettledAt { epoch: u64::MAX, boundaries: u64::MAX, funding_e18: i128::MIN, social_e18: i128::MIN };
    let position = postcard_len(&(
        (AccountIdx(u32::MAX), u16::MAX),
        clearing::pnl::PerpPosition { quantity: i128::MIN, cost_e18: i128::MIN },
        settled,
    ));
    let borrow = postcard_len(&((AccountIdx(u32::MAX), AssetIdx(u16::MAX)), Borrow { scaled: i128::MIN, reported: i128::MIN }));
    let index = postcard_len(&(AssetIdx(u16::MAX), i128::MAX, u64::MAX));
    let premium = crate::funding::PremiumAverage { sum_e18_ms: i128::MIN, since_ms: u64::MAX, last: Some((u64::MAX, i128::MIN)) };
    let indices = crate::settle::MarketIndices {
        epoch: u64::MAX,
        boundaries: u64::MAX,
        funding_e18: i128::MIN,
        mark_e18: i128::MIN,
        social_e18: i128::MIN,
        social_due: i128::MIN,
        expiry_price_e18: Some(i128::MIN),
        unsettled: u32::MAX,
    };
    let derivative = postcard_len(&(u16::MAX, Some(u64::MAX), Expiry::Unsettled, premium, indices)) + postcard_len(&(u32::MAX, u16::MAX));
    let history = postcard_len(&worst_name()) + 10 + PRICE_HISTORY_MAX as u64 * postcard_len(&(u64::MAX, i128::MIN));
    let positions = POSITIONS_TOTAL_MAX.min(c.accounts.saturating_mul(c.markets)) * position;
    let liquidation = liquidation_state_bytes(c);
    let derivatives = positions + c.accounts * c.markets.min(c.assets) * borrow + c.assets * index + c.markets * (derivative + history);
    // The model in force and one in staging, each at most the largest encoding in parts; a
    // health flag and a backlog entry per account.
    let model = risk_model::RISK_MODEL_PARTS_MAX as u64 * risk_model::RISK_MODEL_PART_BYTES_MAX as u64 + 256;
    let flag = postcard_len(&(AccountIdx(u32::MAX), Health::Liquidation)) + postcard_len(&AccountIdx(u32::MAX));
    // A stable-price history per priced symbol.
    let stable_history = stable_price::STABLE_PRICE_PRINTS_MAX as u64 * postcard_len(&UsdPrice(i128::MIN));
    let exposure = postcard_len(&(AssetIdx(u16::MAX), i128::MIN));
    // A guard per priced symbol.
    let guards = 2 * c.assets * worst_guard_bytes();
    derivatives
        + liquidation
        + guards
        + fixed
        + hedging::worst_image_bytes()
        + c.assets * exposure
        + 2 * c.assets * stable_history
        + 2 * model
        + c.accounts * flag
        + c.markets * (market + BOOK_IMAGE_FIXED_BYTES)
        + c.markets * c.orders_per_market * (order + 2 * hold)
        + config
        + c.accounts * (c.assets * balance + account + postcard_len(&AccountIdx(u32::MAX)))
        + c.withdrawals * (pending + withdrawal)
        + 2 * c.assets * price
        + c.references * 32
        + c.principals * (session + c.ids_per_principal * id + add_on)
}

/// An upper bound of the liquidation state: an auction per position at most (an auction never
/// offers more than its account holds, and each account has at most one per market); per
/// account a case naming at most every market and a penalty per
/// settlement asset, and a liquidator entry; a queued deleveraging close per position; the id
/// counter and the round-robin cursor.
fn liquidation_state_bytes(c: &Counts) -> u64 {
    let account = AccountIdx(u32::MAX);
    let auction = liquidation::auction::Auction {
        side: liquidation::auction::Side::Sell,
        qty_left: i128::MIN,
        mark: i128::MIN,
        started_ms: u64::MAX,
    };
    let auction = postcard_len(&(u64::MAX, liquidate::LiquidationAuction { account, market: u16::MAX, auction }));
    let case_entry = postcard_len(&(u16::MAX, i8::MIN));
    let penalty = postcard_len(&(AssetIdx(u16::MAX), i128::MIN));
    let case = postcard_len(&account) + 10 + c.markets * case_entry + c.markets.min(c.assets) * penalty;
    let fixed = 32 + postcard_len(&Some(account));
    // A queued deleveraging close per position at most: (holder, market) and a quantity.
    let adl = postcard_len(&((account, u16::MAX), i128::MIN));
    fixed + POSITIONS_TOTAL_MAX.min(c.accounts.saturating_mul(c.markets)) * (auction + adl) + c.accounts * (case + postcard_len(&account))
}

/// Bytes of a book image without orders (spec, counters, reference price), bounded above.
const BOOK_IMAGE_FIXED_BYTES: u64 = 512;

fn worst_market() -> model::Market {
    model::Market {
        id: worst_name(),
        base: worst_name(),
        quote: worst_name(),
        tick: worst_field(),
        lot: worst_field(),
        qty_min: worst_field(),
        qty_max: worst_field(),
        min_notional: worst_field(),
        open_orders_per_account_max: u32::MAX,
        book_orders_max: u32::MAX,
        price_band_bps: u32::MAX,
        maker_fee_bps: i32::MIN,
        taker_fee_bps: u32::MAX,
        position_max: Some(worst_field()),
        house_quote: Some(model::HouseQuote { spread_bps: u32::MAX, size_max: worst_field(), exposure_max: worst_field() }),
        kind: model::MarketKind::Option,
        instrument: Some(worst_name()),
        funding_interval_ms: Some(u64::MAX),
        funding_cap_bps: Some(u32::MAX),
        strike: Some(worst_field()),
        expiry: Some(worst_field()),
        right: Some(model::OptionRight::Call),
        twap_window_ms: Some(u64::MAX),
        positions_max: Some(u32::MAX),
        open_interest_max: Some(worst_field()),
    }
}

/// The encoded size of one resting order in a book image: an image with one order of extreme
/// values minus the same image without it.
fn book_order_bytes() -> u64 {
    let spec = book::MarketSpec {
        tick: 1,
        lot: 1,
        qty_min: 1,
        qty_max: u64::MAX / 2,
        open_orders_per_account_max: 1,
        book_orders_max: 1,
        price_band_bps: 10_000,
        self_trade_prevention: book::SelfTradePrevention::CancelTaker,
        matching: book::Matching::PriceTime,
    };
    let mut b = book::Book::new(spec).expect("a valid spec");
    let mut events = Vec::new();
    b.apply(&book::Command::SetReferencePrice { price: book::Price(i64::MAX / 4) }, &mut events).expect("a positive reference");
    let empty = postcard_len(&b.image());
    let order = book::NewOrder {
        account: book::AccountId(u32::MAX),
        client_order_id: book::ClientOrderId(u64::MAX),
        side: book::Side::Sell,
        kind: book::OrderKind::Limit,
        price: book::Price(i64::MAX / 4),
        qty: book::Qty(u64::MAX / 2),
        reduce_only: None,
        self_trade_prevention: Some(book::SelfTradePrevention::DecrementAndCancel),
    };
    b.apply(&book::Command::Place(order), &mut events).expect("a valid order");
    postcard_len(&b.image()).saturating_sub(empty) + 16
}

/// The longest `why` a `liquidation_deferred` event carries: longer reasons are cut.
pub const DEFERRED_WHY_BYTES_MAX: usize = 256;

/// Encoded sizes (with separator) of the liquidation step's events at their worst.
struct LiquidationEvents {
    started: u64,
    deferred: u64,
    opened: u64,
    /// A fill's events, a takeover, an end: the events of an auction chunk.
    chunk: u64,
    /// A transfer, a borrow change, accrued interest, a waterfall step.
    movement: u64,
    /// A socialised or deleveraged share.
    share: u64,
}

/// The sizes are constants of the code (no configuration enters them): measured once per
/// process, not by every command's liquidation step (docs/performance.md, "Liquidation sweep").
fn liquidation_events() -> &'static LiquidationEvents {
    static EVENTS: OnceLock<LiquidationEvents> = OnceLock::new();
    EVENTS.get_or_init(measure_liquidation_events)
}

fn measure_liquidation_events() -> LiquidationEvents {
    let (decimal, account, name) = (|| "9".repeat(DECIMAL_TEXT_LEN_MAX), || "x".repeat(FIELD_BYTES_MAX), worst_name);
    let seq = u64::MAX;
    let len = |e: Event| json_len(&e) + 1;
    let takeover = len(Event::AuctionFilled {
        seq,
        auction_id: u64::MAX,
        account: account(),
        liquidator: account(),
        market: name(),
        qty: decimal(),
        price: decimal(),
        penalty: decimal(),
        insurance_share: decimal(),
    });
    let movement = [
        len(Event::Transferred {
            debit: account(),
            credit: account(),
            asset: name(),
            amount: decimal(),
            reason: Reason::LiquidationPenalty,
        }),
        len(Event::BorrowChanged { seq, account: account(), asset: name(), amount: decimal(), debt: decimal() }),
        len(Event::InterestAccrued { seq, account: account(), asset: name(), interest: decimal(), debt: decimal() }),
        len(Event::WaterfallStep { seq, account: account(), step: "house_uncovered".into(), asset: name(), amount: decimal() }),
    ];
    let deleveraged = Event::Deleveraged {
        seq,
        account: account(),
        holder: account(),
        market: name(),
        asset: name(),
        amount: decimal(),
        qty: decimal(),
        price: decimal(),
    };
    let share =
        len(Event::Socialised { seq, account: account(), holder: account(), asset: name(), amount: decimal() }).max(len(deleveraged));
    LiquidationEvents {
        started: len(Event::LiquidationStarted {
            seq,
            account: account(),
            equity: decimal(),
            im: decimal(),
            mm: decimal(),
            target_reached: false,
        }),
        deferred: len(Event::LiquidationDeferred { seq, account: account(), why: "\"".repeat(DEFERRED_WHY_BYTES_MAX) }),
        opened: len(Event::AuctionOpened {
            seq,
            auction_id: u64::MAX,
            account: account(),
            market: name(),
            side: "sell".into(),
            qty: decimal(),
            mark: decimal(),
            ends_ms: u64::MAX,
        }),
        chunk: takeover.max(derivative_event_bytes()),
        movement: movement.into_iter().max().unwrap_or(0),
        share,
    }
}

/// The largest event of a token leg's close (docs/liquidation.md, "Token legs"): a movement or
/// the takeover itself.
pub(crate) fn liquidation_movement_bytes() -> u64 {
    static BYTES: OnceLock<u64> = OnceLock::new();
    *BYTES.get_or_init(measure_liquidation_movement_bytes)
}

fn measure_liquidation_movement_bytes() -> u64 {
    let (decimal, account, name) = (|| "9".repeat(DECIMAL_TEXT_LEN_MAX), || "x".repeat(FIELD_BYTES_MAX), worst_name);
    let takeover = json_len(&Event::TokenLegTakenOver {
        seq: u64::MAX,
        account: account(),
        asset: name(),
        side: "sell".into(),
        qty: decimal(),
        price: decimal(),
        value: decimal(),
        penalty: decimal(),
        insurance_share: decimal(),
    }) + 1;
    let option = json_len(&Event::OptionLegTakenOver {
        seq: u64::MAX,
        account: account(),
        market: name(),
        side: "sell".into(),
        qty: decimal(),
        price: decimal(),
        value: decimal(),
        penalty: decimal(),
        insurance_share: decimal(),
    }) + 1;
    liquidation_events().movement.max(takeover).max(option)
}

/// Events of one auction chunk handed to the house (or filled by a bid): a fill on each side,
/// two penalty payments with their borrows and repayments, the takeover and the end of the case.
pub const LIQUIDATION_CHUNK_EVENTS_MAX: u64 = DERIVATIVE_FILL_EVENTS_MAX + 2 * 5 + 2;

/// The most bytes one auction chunk adds to a result (a deferral instead is shorter or counted).
pub fn liquidation_chunk_bytes() -> u64 {
    let e = liquidation_events();
    LIQUIDATION_CHUNK_EVENTS_MAX * e.chunk + e.deferred
}

/// The most bytes starting one account's liquidation adds to a result: the start, an auction
/// per perp market and a deferral; or the bankruptcy of the account in every settlement asset
/// it may owe. Per asset: two repayments (two events each), the collateral sold (two transfers
/// per other asset and a step), four steps of two events, the residue charged to the house
/// (three) and the last resort's step; and the last resort: socialised, a share per perp market
/// advanced by its clearing account (its holders are charged later by the market's index,
/// [`crate::settle`]); deleveraged, at most [`ADL_SHARES_MAX`] opposite positions, each a
/// share, a borrow of two events and a transfer. (A deleveraged holder's close is queued and
/// measured on its own: [`adl_close_bytes`].)
pub fn liquidation_account_bytes(markets: &[&model::Market], assets_max: u64) -> u64 {
    let e = liquidation_events();
    let derivatives: Vec<&&model::Market> = markets.iter().filter(|m| m.kind != model::MarketKind::Spot).collect();
    let perps = derivatives.iter().filter(|m| m.kind == model::MarketKind::Perp).count() as u64;
    let quotes = derivatives.iter().map(|m| m.quote.as_str()).collect::<BTreeSet<&str>>().len() as u64;
    let start = e.started + perps * e.opened + e.deferred;
    let per_asset =
        (4 + 2 * assets_max + 1 + 8 + 3 + 1) * e.movement + perps * (e.share + e.movement) + ADL_SHARES_MAX * (e.share + 3 * e.movement);
    start.max(e.started + e.deferred + quotes * per_asset)
}

/// Events of one deleveraged holder's close against `@house`: per side a position change, a
/// settlement, and a borrow or a repayment with its accrued interest; and before it, per side,
/// the position's pending amounts settled at the indices ([`crate::settle`]).
pub const ADL_CLOSE_EVENTS_MAX: u64 = 2 * 4;

/// The most bytes one deleveraged holder's close adds to a result.
pub fn adl_close_bytes() -> u64 {
    (ADL_CLOSE_EVENTS_MAX + 2 * crate::settle::settlement_events_max()) * derivative_event_bytes()
}

/// Opposite positions one bankruptcy deleverages at most per settlement asset; what they leave
/// is the house's (`house_uncovered`).
pub const ADL_SHARES_MAX: u64 = 64;

/// What the liquidation step keeps free after the work it starts: one health refresh and the
/// hedging step that follow it.
pub fn liquidation_reserve_bytes() -> u64 {
    static BYTES: OnceLock<u64> = OnceLock::new();
    *BYTES.get_or_init(|| health_events_bytes() + hedging::step_bytes())
}

/// A `[liquidation]` is refused unless the largest ordinary result still leaves room for one
/// auction handed to the house and one account's liquidation at its worst (the step measures
/// the bytes it emits and defers the rest to later commands, so it always makes progress).
pub fn check_liquidation(markets: &[&model::Market], limits: &Limits) -> Result<(), LimitsError> {
    let work = liquidation_chunk_bytes() + liquidation_account_bytes(markets, limits.assets_max as u64);
    let bytes = largest_result_bytes(limits) + liquidation_reserve_bytes() + work;
    if bytes > RECORD_BYTES_MAX as u64 {
        return Err(LimitsError::TooLarge { what: "result of a command with one liquidation", bytes, max: RECORD_BYTES_MAX as u64 });
    }
    Ok(())
}

/// The bytes of a command's result so far, counted as its events are appended.
#[derive(Debug)]
pub(crate) struct ResultRoom {
    counted: usize,
    bytes: u64,
    /// The record's size and what must stay free after the work measured.
    record: u64,
    reserve: u64,
}

impl ResultRoom {
    /// The liquidation step's room: the journal's record, keeping the liquidation reserve free.
    pub(crate) fn new() -> ResultRoom {
        ResultRoom::within(RECORD_BYTES_MAX as u64, liquidation_reserve_bytes())
    }

    /// A room of `record` bytes keeping `reserve` free (the hedging step keeps nothing back).
    pub(crate) fn within(record: u64, reserve: u64) -> ResultRoom {
        ResultRoom { counted: 0, bytes: json_len(&Outcome::Applied { seq: u64::MAX, events: vec![] }), record, reserve }
    }

    /// Whether `more` bytes (and the reserve) still fit the record after `events`.
    pub(crate) fn fits(&mut self, events: &[Event], more: u64) -> bool {
        for e in &events[self.counted..] {
            self.bytes += json_len(e) + 1;
        }
        self.counted = events.len();
        self.bytes + more + self.reserve <= self.record
    }
}
