//! Account statements rebuilt from the journal's results: for one trader account, every
//! movement of its posted balances (deposits, withdrawals, transfers, fills, fees, option
//! premiums, funding, settlements, borrows and repayments) with the running balance per asset,
//! and the events that move no money but explain it (positions, interest added to a debt).
//!
//! It reads only what the engine journalled: the genesis configuration (assets, their
//! decimals, markets and their kinds), configuration changes, and each applied command's events.
//! It never re-executes a command, so a statement is an independent account of the ledger: its
//! final balances must equal the engine's to the unit ([`Statement::reconcile`]; `docs/engine.md`,
//! "Statements").
//!
//! Invariants: every amount is an exact integer of the asset's smallest unit; an event that
//! names an unknown asset or market, or an amount that does not parse at its asset's scale, is a
//! typed error, never skipped.

use engine::{Command, ConfigChange, Event, Outcome};
use money::Scale;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("the journal does not start with a genesis configuration")]
    NoGenesis,
    #[error("seq {seq}: unknown asset {asset:?}")]
    UnknownAsset { seq: u64, asset: String },
    #[error("seq {seq}: unknown market {market:?}")]
    UnknownMarket { seq: u64, market: String },
    #[error("seq {seq}: amount {amount:?} of {asset}: {why}")]
    BadAmount { seq: u64, asset: String, amount: String, why: String },
    #[error("seq {seq}: balance of {asset} overflows")]
    Overflow { seq: u64, asset: String },
    #[error("the statement index holds {lines_max} lines at most and was full at seq {seq}; use `clearhouse statement` offline")]
    IndexFull { lines_max: usize, seq: u64 },
    #[error("the statement index stopped at seq {seq}: {error}")]
    IndexBroken { seq: u64, error: Box<StatementError> },
    #[error("statement of {account} does not reconcile in {asset}: statement {statement}, ledger {ledger}")]
    Mismatch { account: String, asset: String, statement: String, ledger: String },
}

/// What a line of a statement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Deposit,
    Withdrawal,
    Transfer,
    /// Spot delivery or payment, or an option premium.
    Trade,
    Fee,
    Funding,
    /// Realised P&L of a derivative position: a reducing fill, mark-to-market or expiry.
    Settlement,
    /// Lent by the house (positive) or repaid to it (negative).
    Borrow,
    /// A liquidation penalty paid (or, to a liquidator, received).
    Penalty,
    /// A step of the default waterfall: a bankrupt account's deficit covered, or a share of it
    /// borne (socialised or deleveraged).
    Waterfall,
    /// No money moves: a position after a fill, or interest added to a debt.
    Note,
}

/// One line: at `seq`, `amount` of `asset` (signed, decimal) and the balance after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub seq: u64,
    pub kind: LineKind,
    pub asset: String,
    pub amount: String,
    pub balance: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub account: String,
    pub lines: Vec<Line>,
    /// Final posted balance per asset (every asset the account ever moved).
    pub balances: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct MarketInfo {
    kind: model::MarketKind,
    base: String,
    quote: String,
}

/// What every account's statement reads of the configuration: asset decimals, markets, and the
/// insurance fund's share of fees. Taken from the genesis command and configuration changes.
#[derive(Debug, Clone, Default)]
struct Terms {
    decimals: BTreeMap<String, u8>,
    markets: BTreeMap<String, MarketInfo>,
    initialised: bool,
    /// The configuration's `insurance_fee_ppm`: the fund's share of each fill's net fee, moved
    /// without an event from `@fees` to `@insurance` (shown on the fund's statement).
    insurance_fee_ppm: Option<u32>,
}

impl Terms {
    /// The configuration of a genesis command; `NoGenesis` for any record before one.
    fn command(&mut self, command: &Command) -> Result<(), StatementError> {
        if let Command::Genesis { config } = command {
            for a in &config.assets {
                self.decimals.insert(a.symbol.clone(), a.decimals);
            }
            for m in &config.markets {
                self.add_market(m);
            }
            self.insurance_fee_ppm = config.liquidation.as_ref().and_then(|l| l.insurance_fee_ppm);
            self.initialised = true;
        }
        if !self.initialised {
            return Err(StatementError::NoGenesis);
        }
        Ok(())
    }

    fn add_market(&mut self, m: &model::Market) {
        self.markets.insert(m.id.clone(), MarketInfo { kind: m.kind, base: m.base.clone(), quote: m.quote.clone() });
    }

    /// A configuration change an event carries (new assets and markets).
    fn event(&mut self, event: &Event) {
        match event {
            Event::ConfigChanged { change: ConfigChange::AddAsset { symbol, decimals }, .. } => {
                self.decimals.insert(symbol.clone(), *decimals);
            }
            Event::ConfigChanged { change: ConfigChange::AddMarket { market }, .. } => self.add_market(market),
            _ => {}
        }
    }
}

/// One account's lines and running balances.
#[derive(Debug, Clone)]
struct Book {
    account: String,
    balances: BTreeMap<String, i128>,
    lines: Vec<Line>,
}

/// Builds one account's statement from journalled (command, outcome) pairs, in order.
#[derive(Debug, Clone)]
pub struct StatementBuilder {
    terms: Terms,
    book: Book,
}

impl StatementBuilder {
    pub fn new(account: &str) -> StatementBuilder {
        StatementBuilder { terms: Terms::default(), book: Book::new(account) }
    }

    /// Takes one journalled record. Refused and duplicate outcomes are never journalled;
    /// rejected ones moved nothing.
    pub fn record(&mut self, command: &Command, outcome: &Outcome) -> Result<(), StatementError> {
        self.terms.command(command)?;
        let Outcome::Applied { seq, events } = outcome else { return Ok(()) };
        for event in events {
            self.terms.event(event);
            self.book.event(&self.terms, *seq, event)?;
        }
        Ok(())
    }

    pub fn finish(self) -> Statement {
        self.book.statement(&self.terms)
    }
}

impl Book {
    fn new(account: &str) -> Book {
        Book { account: account.into(), balances: BTreeMap::new(), lines: Vec::new() }
    }

    /// The event's lines for this account (the terms already carry any change it makes).
    fn event(&mut self, terms: &Terms, seq: u64, event: &Event) -> Result<(), StatementError> {
        let me = self.account.clone();
        match event {
            Event::Transferred { debit, credit, asset, amount, reason } => {
                let kind = match reason {
                    ledger::Reason::Deposit => LineKind::Deposit,
                    ledger::Reason::Withdrawal => LineKind::Withdrawal,
                    ledger::Reason::LiquidationPenalty => LineKind::Penalty,
                    ledger::Reason::Waterfall => LineKind::Waterfall,
                    _ => LineKind::Transfer,
                };
                if *credit == me {
                    self.post(terms, seq, kind, asset, amount, false, format!("from {debit}"))?;
                }
                if *debit == me {
                    self.post(terms, seq, kind, asset, amount, true, format!("to {credit}"))?;
                }
            }
            Event::OrderFilled { .. } => self.fill(terms, seq, event)?,
            Event::HouseFilled { account, .. } if *account == me => self.house_fill(terms, seq, event)?,
            Event::PositionChanged { market, account, qty, entry_cost, realised, .. } if *account == me => {
                self.note(seq, format!("{market}: position {qty}, entry cost {entry_cost}, realised {realised}"));
            }
            // A holder's share of a socialised loss is charged when its position settles
            // (engine `settle`): a waterfall line.
            Event::Settled { market, account, asset, amount, reason, .. } if *account == me && reason == "socialised" => {
                self.post(terms, seq, LineKind::Waterfall, asset, amount, false, format!("{market} socialised loss share"))?;
            }
            Event::Settled { market, account, asset, amount, price, reason, .. } if *account == me => {
                self.post(terms, seq, LineKind::Settlement, asset, amount, false, format!("{market} {reason} at {price}"))?;
            }
            Event::FundingPaid { market, account, asset, amount, rate, .. } if *account == me => {
                self.post(terms, seq, LineKind::Funding, asset, amount, false, format!("{market} funding at rate {rate}"))?;
            }
            Event::BorrowChanged { account, asset, amount, debt, .. } if *account == me => {
                self.post(terms, seq, LineKind::Borrow, asset, amount, false, format!("owed to the house after it: {debt}"))?;
            }
            Event::AuctionFilled { account, liquidator, market, qty, price, .. } if *account == me || *liquidator == me => {
                self.note(seq, format!("{market}: liquidation fill of {qty} at {price} ({account} to {liquidator})"));
            }
            Event::AuctionHouseTakeover { account, market, qty, price, .. } if *account == me => {
                self.note(seq, format!("{market}: {qty} taken over by the house at {price}"));
            }
            Event::WaterfallStep { account, step, asset, amount, .. } if *account == me => {
                self.note(seq, format!("default waterfall, {step}: {amount} {asset}"));
            }
            Event::InterestAccrued { account, asset, interest, debt, .. } if *account == me => {
                self.note(seq, format!("interest {interest} {asset} added to the debt, now {debt}"));
            }
            _ => {}
        }
        Ok(())
    }

    /// A fill's movements for this account: spot delivery and payment, an option's premium,
    /// and the fees (a perp fill moves only fees; its P&L comes as `Settled`).
    fn fill(&mut self, terms: &Terms, seq: u64, event: &Event) -> Result<(), StatementError> {
        let Event::OrderFilled { market, maker_account, taker_account, taker_side, price, qty, quote_amount, maker_fee, taker_fee, .. } =
            event
        else {
            return Ok(());
        };
        let info = terms.markets.get(market).cloned().ok_or_else(|| StatementError::UnknownMarket { seq, market: market.clone() })?;
        self.fee_share(terms, seq, &info.quote, &[taker_fee, maker_fee], market)?;
        let me = &self.account;
        let (is_maker, is_taker) = (maker_account == me, taker_account == me);
        if !is_maker && !is_taker {
            return Ok(());
        }
        let buys =
            (is_taker && *taker_side == engine::markets::OrderSide::Buy) || (is_maker && *taker_side == engine::markets::OrderSide::Sell);
        let detail = format!("{market} {} {qty} at {price}", if buys { "bought" } else { "sold" });
        if info.kind == model::MarketKind::Spot {
            self.post(terms, seq, LineKind::Trade, &info.base, qty, !buys, detail.clone())?;
        }
        if info.kind != model::MarketKind::Perp {
            self.post(terms, seq, LineKind::Trade, &info.quote, quote_amount, buys, detail.clone())?;
        }
        let fee = if is_taker { taker_fee } else { maker_fee };
        self.post(terms, seq, LineKind::Fee, &info.quote, fee, true, format!("{market} {} fee", if is_taker { "taker" } else { "maker" }))
    }

    /// A fill by the house as principal (spot): delivery, payment and the taker fee.
    fn house_fill(&mut self, terms: &Terms, seq: u64, event: &Event) -> Result<(), StatementError> {
        let Event::HouseFilled { market, side, price, qty, quote_amount, fee, .. } = event else { return Ok(()) };
        let info = terms.markets.get(market).cloned().ok_or_else(|| StatementError::UnknownMarket { seq, market: market.clone() })?;
        self.fee_share(terms, seq, &info.quote, &[fee], market)?;
        let buys = *side == engine::markets::OrderSide::Buy;
        let detail = format!("{market} {} {qty} at {price} from the house", if buys { "bought" } else { "sold" });
        self.post(terms, seq, LineKind::Trade, &info.base, qty, !buys, detail.clone())?;
        self.post(terms, seq, LineKind::Trade, &info.quote, quote_amount, buys, detail)?;
        self.post(terms, seq, LineKind::Fee, &info.quote, fee, true, format!("{market} taker fee"))
    }

    /// The insurance fund's share of a fill's net fee (the engine's `fee_share_to_insurance`:
    /// `ceil(net x ppm / 10^6)`, nothing on a net rebate), credited on the statement of
    /// `@insurance`. (A statement of `@fees` shows neither the fees nor this share.)
    fn fee_share(&mut self, terms: &Terms, seq: u64, asset: &str, fees: &[&String], market: &str) -> Result<(), StatementError> {
        let Some(ppm) = terms.insurance_fee_ppm else { return Ok(()) };
        if self.account != "@insurance" {
            return Ok(());
        }
        let decimals = *terms.decimals.get(asset).ok_or_else(|| StatementError::UnknownAsset { seq, asset: asset.into() })?;
        let scale = money::Scale::new(decimals).map_err(|_| StatementError::UnknownAsset { seq, asset: asset.into() })?;
        let mut net = 0i128;
        for fee in fees {
            let units = money::Amount::parse(fee, scale).map_err(|e| StatementError::BadAmount {
                seq,
                asset: asset.into(),
                amount: fee.to_string(),
                why: e.to_string(),
            })?;
            net += units.units();
        }
        if net <= 0 || ppm == 0 {
            return Ok(());
        }
        let share = money::mul_div(net, i128::from(ppm), 1_000_000, money::Rounding::Ceil).map_err(|e| StatementError::BadAmount {
            seq,
            asset: asset.into(),
            amount: net.to_string(),
            why: e.to_string(),
        })?;
        let text = money::format_decimal(share, scale);
        self.post(terms, seq, LineKind::Fee, asset, &text, false, format!("{market} fee: the insurance fund's share"))
    }

    /// Adds (or with `debit`, subtracts) a decimal amount of `asset`; a zero moves nothing.
    #[allow(clippy::too_many_arguments)]
    fn post(
        &mut self,
        terms: &Terms,
        seq: u64,
        kind: LineKind,
        asset: &str,
        amount: &str,
        debit: bool,
        detail: String,
    ) -> Result<(), StatementError> {
        let decimals = *terms.decimals.get(asset).ok_or_else(|| StatementError::UnknownAsset { seq, asset: asset.into() })?;
        let scale = Scale::new(decimals).map_err(|e| StatementError::BadAmount {
            seq,
            asset: asset.into(),
            amount: amount.into(),
            why: e.to_string(),
        })?;
        let bad = |why: String| StatementError::BadAmount { seq, asset: asset.into(), amount: amount.into(), why };
        let units = money::Amount::parse(amount, scale).map_err(|e| bad(e.to_string()))?.units();
        if units == 0 {
            return Ok(());
        }
        let signed = if debit { units.checked_neg().ok_or_else(|| bad("out of range".into()))? } else { units };
        let balance = self.balances.entry(asset.to_string()).or_insert(0);
        *balance = balance.checked_add(signed).ok_or_else(|| StatementError::Overflow { seq, asset: asset.into() })?;
        let balance = *balance;
        self.lines.push(Line {
            seq,
            kind,
            asset: asset.into(),
            amount: money::format_decimal(signed, scale),
            balance: money::format_decimal(balance, scale),
            detail,
        });
        Ok(())
    }

    fn note(&mut self, seq: u64, detail: String) {
        self.lines.push(Line { seq, kind: LineKind::Note, asset: String::new(), amount: String::new(), balance: String::new(), detail });
    }

    /// The statement so far.
    fn statement(&self, terms: &Terms) -> Statement {
        self.statement_of(terms, self.lines.len(), &self.balances)
    }

    /// The statement made of the first `lines` lines and the `balances` after them.
    fn statement_of(&self, terms: &Terms, lines: usize, balances: &BTreeMap<String, i128>) -> Statement {
        let balances = balances
            .iter()
            .map(|(asset, units)| {
                // An asset is posted only with known, valid decimals (`post`) and never removed.
                let scale = Scale::new(terms.decimals[asset]).expect("decimals checked when the asset was first posted");
                (asset.clone(), money::format_decimal(*units, scale))
            })
            .collect();
        Statement { account: self.account.clone(), lines: self.lines[..lines].to_vec(), balances }
    }
}

/// Lines a [`StatementIndex`] keeps by default, over all accounts (some 200 bytes each).
pub const INDEX_LINES_MAX_DEFAULT: usize = 2_000_000;

/// Where one account's statement stood at a moment: its line count and balances. Lines are
/// only ever appended, so the first `lines` lines of a later index are the lines at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    lines: usize,
    balances: BTreeMap<String, i128>,
}

/// Every account's statement, kept up to date record by record (`docs/service.md`,
/// "Statements"): the same lines a [`StatementBuilder`] of each account makes from the same
/// records, each event dispatched only to the accounts it names. Bounded: past `lines_max`
/// lines in all, or after a record it cannot read, it refuses statements (a typed error naming
/// the seq) rather than serve an incomplete one.
#[derive(Debug, Clone)]
pub struct StatementIndex {
    terms: Terms,
    books: std::collections::HashMap<String, Book>,
    lines: usize,
    lines_max: usize,
    last_seq: u64,
    stopped: Option<StatementError>,
}

impl StatementIndex {
    pub fn new(lines_max: usize) -> StatementIndex {
        let books = std::collections::HashMap::new();
        StatementIndex { terms: Terms::default(), books, lines: 0, lines_max, last_seq: 0, stopped: None }
    }

    /// Takes one journalled record (seq, command, outcome), in order. Once stopped (full, or a
    /// record it could not read), it takes nothing more and returns why.
    pub fn record(&mut self, seq: u64, command: &Command, outcome: &Outcome) -> Result<(), StatementError> {
        if let Some(stopped) = &self.stopped {
            return Err(stopped.clone());
        }
        assert!(seq > self.last_seq, "records come in order: seq {seq} after {}", self.last_seq);
        if let Err(error) = self.apply(command, outcome) {
            let stopped = match error {
                full @ StatementError::IndexFull { .. } => full,
                error => StatementError::IndexBroken { seq, error: Box::new(error) },
            };
            self.stopped = Some(stopped.clone());
            return Err(stopped);
        }
        self.last_seq = seq;
        Ok(())
    }

    fn apply(&mut self, command: &Command, outcome: &Outcome) -> Result<(), StatementError> {
        self.terms.command(command)?;
        let Outcome::Applied { seq, events } = outcome else { return Ok(()) };
        for event in events {
            self.terms.event(event);
            for account in touched(event, self.terms.insurance_fee_ppm.is_some()).into_iter().flatten() {
                let book = self.books.entry(account.to_string()).or_insert_with(|| Book::new(account));
                let before = book.lines.len();
                book.event(&self.terms, *seq, event)?;
                self.lines += book.lines.len() - before;
            }
            if self.lines > self.lines_max {
                return Err(StatementError::IndexFull { lines_max: self.lines_max, seq: *seq });
            }
        }
        Ok(())
    }

    /// Whether it stopped (full, or a record it could not read): it then refuses statements.
    pub fn is_stopped(&self) -> bool {
        self.stopped.is_some()
    }

    /// The last seq taken.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Lines held, over all accounts.
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// Where `account`'s statement stands now (cheap: its balances, not its lines).
    pub fn position(&self, account: &str) -> Result<Position, StatementError> {
        if let Some(stopped) = &self.stopped {
            return Err(stopped.clone());
        }
        Ok(self
            .books
            .get(account)
            .map_or(Position { lines: 0, balances: BTreeMap::new() }, |b| Position { lines: b.lines.len(), balances: b.balances.clone() }))
    }

    /// `account`'s statement as it stood at `position` (taken from this index earlier).
    pub fn statement_at(&self, account: &str, position: &Position) -> Result<Statement, StatementError> {
        if let Some(stopped) = &self.stopped {
            return Err(stopped.clone());
        }
        let empty = Book::new(account);
        let book = self.books.get(account).unwrap_or(&empty);
        assert!(position.lines <= book.lines.len(), "a position of this index: lines are only appended");
        Ok(book.statement_of(&self.terms, position.lines, &position.balances))
    }

    /// `account`'s statement now.
    pub fn statement(&self, account: &str) -> Result<Statement, StatementError> {
        self.statement_at(account, &self.position(account)?)
    }
}

/// The accounts whose statement an event can move or annotate (those [`Book::event`] matches
/// on), each once; the insurance fund on every fill when it takes a share of fees.
fn touched(event: &Event, insurance_share: bool) -> [Option<&str>; 3] {
    fn pair<'e>(a: &'e str, b: &'e str) -> [Option<&'e str>; 3] {
        [Some(a), (a != b).then_some(b), None]
    }
    match event {
        Event::Transferred { debit, credit, .. } => pair(debit, credit),
        Event::OrderFilled { maker_account, taker_account, .. } => {
            let [a, b, _] = pair(maker_account, taker_account);
            let fund = insurance_share && maker_account != "@insurance" && taker_account != "@insurance";
            [a, b, fund.then_some("@insurance")]
        }
        Event::AuctionFilled { account, liquidator, .. } => pair(account, liquidator),
        Event::HouseFilled { account, .. }
        | Event::PositionChanged { account, .. }
        | Event::Settled { account, .. }
        | Event::FundingPaid { account, .. }
        | Event::BorrowChanged { account, .. }
        | Event::AuctionHouseTakeover { account, .. }
        | Event::WaterfallStep { account, .. }
        | Event::InterestAccrued { account, .. } => [Some(account), None, None],
        _ => [None, None, None],
    }
}

impl Statement {
    /// The statement's final balances equal the ledger's posted balances of the account, asset
    /// by asset, to the unit (`ledger`: the engine's balance rows).
    pub fn reconcile(&self, ledger: &[engine::BalanceRow]) -> Result<(), StatementError> {
        let mine: BTreeMap<&str, &str> =
            ledger.iter().filter(|r| r.account == self.account).map(|r| (r.asset.as_str(), r.posted.as_str())).collect();
        let assets: std::collections::BTreeSet<&str> = mine.keys().copied().chain(self.balances.keys().map(String::as_str)).collect();
        for asset in assets {
            let statement = self.balances.get(asset).map_or("0", String::as_str);
            let ledger = mine.get(asset).copied().unwrap_or("0");
            if statement != ledger {
                return Err(StatementError::Mismatch {
                    account: self.account.clone(),
                    asset: asset.into(),
                    statement: statement.into(),
                    ledger: ledger.into(),
                });
            }
        }
        Ok(())
    }

    /// The statement as a table: one line per movement, then the balances.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "statement of {}\n{:>8}  {:<10} {:<6} {:>24} {:>24}  {}\n",
            self.account, "seq", "kind", "asset", "amount", "balance", "detail"
        );
        for l in &self.lines {
            let kind = serde_json::to_value(l.kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            out.push_str(&format!("{:>8}  {:<10} {:<6} {:>24} {:>24}  {}\n", l.seq, kind, l.asset, l.amount, l.balance, l.detail));
        }
        out.push_str("balances:\n");
        for (asset, balance) in &self.balances {
            out.push_str(&format!("  {asset:<6} {balance:>24}\n"));
        }
        out
    }
}
