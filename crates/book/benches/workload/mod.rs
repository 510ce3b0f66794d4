//! A deterministic, realistic command mix for the matching benchmarks: mostly passive places and
//! cancels around a slowly walking mid, a few amends, and about 5 % aggressive orders that
//! trade. Generated once against a live book (so cancels name real orders), then replayed.

use book::*;

pub const ACCOUNTS: u32 = 1_000;
pub const RESTING_TARGET: usize = 20_000;
const TICK: i64 = 10;
const LOT: u64 = 1_000;

pub fn spec() -> MarketSpec {
    MarketSpec {
        tick: TICK,
        lot: LOT,
        qty_min: LOT,
        qty_max: 1_000 * LOT,
        open_orders_per_account_max: 256,
        book_orders_max: 1_000_000,
        price_band_bps: 1_000,
        self_trade_prevention: SelfTradePrevention::CancelTaker,
        matching: Matching::PriceTime,
    }
}

/// xorshift64*: a fixed, dependency-free generator so the stream is the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub struct Workload {
    /// Builds the book up to about `RESTING_TARGET` resting orders; not measured.
    pub warmup: Vec<Command>,
    /// The measured mix.
    pub mixed: Vec<Command>,
}

struct Generator {
    rng: Rng,
    book: Book,
    mid: i64,
    client: Vec<u64>,
    live: Vec<(AccountId, OrderId)>,
    events: Vec<Event>,
}

impl Generator {
    fn emit(&mut self, command: Command, out: &mut Vec<Command>) {
        if self.book.apply(&command, &mut self.events).is_ok() {
            for event in &self.events {
                if let Event::Accepted { order_id, account, .. } = *event {
                    self.live.push((account, order_id));
                }
            }
        }
        out.push(command);
    }

    fn new_order(&mut self, side: Side, kind: OrderKind, price: i64, lots: u64) -> Command {
        let account = self.rng.below(u64::from(ACCOUNTS)) as u32;
        self.client[account as usize] += 1;
        Command::Place(NewOrder {
            account: AccountId(account),
            client_order_id: ClientOrderId(self.client[account as usize]),
            side,
            kind,
            price: Price(price),
            qty: Qty(lots * LOT),
            reduce_only: None,
            self_trade_prevention: None,
        })
    }

    fn passive(&mut self) -> Command {
        let side = if self.rng.below(2) == 0 { Side::Buy } else { Side::Sell };
        let offset = (1 + self.rng.below(50) as i64) * TICK;
        let price = if side == Side::Buy { self.mid - offset } else { self.mid + offset };
        let lots = 1 + self.rng.below(20);
        self.new_order(side, OrderKind::Limit, price, lots)
    }

    fn aggressive(&mut self) -> Command {
        let side = if self.rng.below(2) == 0 { Side::Buy } else { Side::Sell };
        let price = if side == Side::Buy { self.mid + 3 * TICK } else { self.mid - 3 * TICK };
        let lots = 1 + self.rng.below(10);
        self.new_order(side, OrderKind::ImmediateOrCancel, price, lots)
    }

    /// A random order still resting, dropping stale entries on the way.
    fn pick_live(&mut self) -> Option<(AccountId, OrderId)> {
        while !self.live.is_empty() {
            let index = self.rng.below(self.live.len() as u64) as usize;
            let (account, id) = self.live[index];
            if self.book.order(id).is_some() {
                return Some((account, id));
            }
            self.live.swap_remove(index);
        }
        None
    }

    fn cancel_or_place(&mut self, amend: bool) -> Command {
        let Some((account, id)) = self.pick_live() else { return self.passive() };
        let order = OrderRef::Id(id);
        match self.book.order(id) {
            Some(view) if amend && view.qty.0 > LOT => Command::Amend { account, order, price: view.price, qty: Qty(view.qty.0 - LOT) },
            _ => Command::Cancel { account, order },
        }
    }

    fn step(&mut self, out: &mut Vec<Command>) {
        if self.rng.below(1_000) == 0 {
            self.mid += if self.rng.below(2) == 0 { TICK } else { -TICK };
            return self.emit(Command::SetReferencePrice { price: Price(self.mid) }, out);
        }
        let roll = self.rng.below(100);
        let command = match roll {
            0..48 if self.book.len() < RESTING_TARGET => self.passive(),
            0..93 => self.cancel_or_place(false),
            93..95 => self.cancel_or_place(true),
            _ => self.aggressive(),
        };
        self.emit(command, out);
    }
}

pub fn generate(seed: u64, mixed_len: usize) -> Workload {
    let mid = 100_000;
    let mut generator = Generator {
        rng: Rng::new(seed),
        book: Book::new(spec()).unwrap_or_else(|e| panic!("benchmark spec: {e}")),
        mid,
        client: vec![0; ACCOUNTS as usize],
        live: Vec::new(),
        events: Vec::new(),
    };
    let mut warmup = Vec::new();
    generator.emit(Command::SetReferencePrice { price: Price(mid) }, &mut warmup);
    while generator.book.len() < RESTING_TARGET {
        let command = generator.passive();
        generator.emit(command, &mut warmup);
    }
    let mut mixed = Vec::with_capacity(mixed_len);
    while mixed.len() < mixed_len {
        generator.step(&mut mixed);
    }
    Workload { warmup, mixed }
}

/// A book after the warm-up commands.
pub fn warmed_book(workload: &Workload) -> Book {
    let mut book = Book::new(spec()).unwrap_or_else(|e| panic!("benchmark spec: {e}"));
    let mut events = Vec::new();
    for command in &workload.warmup {
        let _ = book.apply(command, &mut events);
    }
    book
}
