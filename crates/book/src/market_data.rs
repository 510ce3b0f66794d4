//! The public market-data view: aggregated depth per price level and trades. It never carries
//! order ids, accounts, client ids or the number of orders at a level.

use serde::{Deserialize, Serialize};

use crate::{Book, Event, Price, Qty, Side};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepthLevel {
    pub price: Price,
    /// Total open quantity at the price.
    pub qty: Qty,
}

/// The top levels of each side, best first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Depth {
    pub bids: Vec<DepthLevel>,
    pub asks: Vec<DepthLevel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicTrade {
    pub price: Price,
    pub qty: Qty,
    /// The side of the incoming (taking) order.
    pub aggressor: Side,
}

impl Book {
    /// Aggregated depth, at most `levels_max` levels per side; always empty in a dark market.
    pub fn depth(&self, levels_max: usize) -> Depth {
        if self.spec.matching == crate::Matching::DarkMid {
            return Depth::default();
        }
        let level = |(price, level): (&i64, &crate::store::Level)| DepthLevel { price: Price(*price), qty: Qty(level.qty) };
        Depth {
            bids: self.store.bids.iter().rev().take(levels_max).map(level).collect(),
            asks: self.store.asks.iter().take(levels_max).map(level).collect(),
        }
    }
}

/// The trades among `events`, stripped of everything private.
pub fn public_trades(events: &[Event]) -> impl Iterator<Item = PublicTrade> + '_ {
    events.iter().filter_map(|event| match *event {
        Event::Fill { taker_side, price, qty, .. } => Some(PublicTrade { price, qty, aggressor: taker_side }),
        _ => None,
    })
}
