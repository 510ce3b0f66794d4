//! The order book and matching engine of one market: a pure, deterministic function from a
//! sequence of [`Command`]s to a sequence of [`Event`]s.
//!
//! It must never do I/O, read a clock, draw random numbers, use floating point, or let the
//! iteration order of a hash map reach its behaviour. The engine drives it (margin gating,
//! clearing and statements live there); the book knows accounts only as numbers.
//!
//! Units: a [`Price`] is smallest quote units per `lot` of base, a positive multiple of `tick`; a
//! [`Qty`] is smallest base units, a positive multiple of `lot`. The quote amount of a fill is
//! `price * qty / lot`, exact because `qty` is a multiple of `lot`.
//!
//! Model: price-time priority (best price first, then arrival; a fill is at the maker's price);
//! good-till-cancelled limit, market (immediate-or-cancel at a protective limit inside the band),
//! immediate-or-cancel, fill-or-kill (a dry run over the liquidity it could actually take,
//! self-trade prevention and reduce-only trimming included, before any fill), post-only (rejected
//! if it would cross, never slid), reduce-only (capped to the position the caller passes; resting
//! reduce-only orders are trimmed as fills shrink the position), cancel, cancel-all, amend (a
//! price change or size increase loses priority, a size reduction keeps it). A market may be dark
//! ([`Matching::DarkMid`]): trades only at the reference price when both limits accept it, no
//! depth published. See `docs/order-book.md`.
//!
//! Invariants, asserted in release builds:
//! - the book is never crossed after a command (best bid < best ask, O(log levels); dark: the
//!   best bid and best ask do not both accept the reference price);
//! - no account trades with itself; every fill is within both orders' limits;
//! - a rejected command changes nothing and emits nothing (every check precedes every mutation);
//! - no fill is outside the taker's limit; a fill-or-kill order that passed its dry run fills in
//!   full;
//! - each level's quantity is the sum of its orders; the indices by id and by client id agree
//!   with the slab; an account's open-order count never exceeds its limit;
//! - a resting reduce-only order never exceeds what its account's tracked position lets it
//!   reduce, so a reduce-only fill never grows or flips a position;
//! - the digest is a function of the logical state only (see [`image`]).
//!
//! Hot path: levels in a `BTreeMap` per side, each an intrusive FIFO of slots in a slab with a
//! free list; no allocation per order once warm.

#![forbid(unsafe_code)]

mod book;
mod dark;
mod error;
pub mod image;
mod market_data;
mod matching;
mod store;
mod types;

pub use book::Book;
pub use error::BookError;
pub use image::{BOOK_IMAGE_VERSION, BookImage};
pub use market_data::{Depth, DepthLevel, PublicTrade, public_trades};
pub use types::*;
