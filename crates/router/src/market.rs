//! The set of venues a router works on: the token table plus one [`VenueModel`] per venue.

use crate::error::RouterError;
use crate::venue::{CurveStableSwap, LendingVenue, OrderBookVenue, TokenId, UniswapV2Pair, UniswapV3Venue, Venue, VenueKind};
use money::{Amount, Scale};

/// Largest number of tokens and of venues a market holds.
pub const MAX_TOKENS: usize = 64;
/// Largest number of venues.
pub const MAX_VENUES: usize = 64;

/// One token: symbol, decimals and a reference USD price (f64, used only to express costs in USD and
/// basis points; never to compute an amount).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// Symbol as configured ("ETH").
    pub symbol: String,
    /// Decimals of the raw unit.
    pub scale: Scale,
    /// Reference price, USD per whole token.
    pub reference_usd: f64,
}

/// Any venue model (an enum rather than trait objects so that a market can be cloned for what-ifs).
// The Curve pool holds fixed arrays inline; boxing it would add an indirection on the hot path for a few
// hundred bytes per venue in a market of at most 64.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum VenueModel {
    /// Uniswap v2.
    UniswapV2(UniswapV2Pair),
    /// Uniswap v3.
    UniswapV3(UniswapV3Venue),
    /// Curve StableSwap.
    Curve(CurveStableSwap),
    /// Order book.
    OrderBook(OrderBookVenue),
    /// Lending reserve.
    Lending(LendingVenue),
}

macro_rules! dispatch {
    ($self:ident, $v:ident => $e:expr) => {
        match $self {
            VenueModel::UniswapV2($v) => $e,
            VenueModel::UniswapV3($v) => $e,
            VenueModel::Curve($v) => $e,
            VenueModel::OrderBook($v) => $e,
            VenueModel::Lending($v) => $e,
        }
    };
}

impl Venue for VenueModel {
    fn id(&self) -> &str {
        dispatch!(self, v => v.id())
    }
    fn kind(&self) -> VenueKind {
        dispatch!(self, v => v.kind())
    }
    fn fee_bps(&self) -> f64 {
        dispatch!(self, v => v.fee_bps())
    }
    fn trades(&self, from: TokenId, to: TokenId) -> bool {
        dispatch!(self, v => v.trades(from, to))
    }
    fn quote(&self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError> {
        dispatch!(self, v => v.quote(from, to, amount_in))
    }
    fn execute(&mut self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError> {
        dispatch!(self, v => v.execute(from, to, amount_in))
    }
    fn marginal_price(&self, from: TokenId, to: TokenId) -> Result<f64, RouterError> {
        dispatch!(self, v => v.marginal_price(from, to))
    }
    fn max_input(&self, from: TokenId, to: TokenId) -> Result<Amount, RouterError> {
        dispatch!(self, v => v.max_input(from, to))
    }
    fn depth_to_price(&self, from: TokenId, to: TokenId, limit_price: f64) -> Result<Amount, RouterError> {
        dispatch!(self, v => v.depth_to_price(from, to, limit_price))
    }
}

/// Tokens and venues. Venue ids are unique; every venue refers to configured tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Market {
    /// Token table, indexed by `TokenId`.
    pub tokens: Vec<Token>,
    /// Venues in configuration order.
    pub venues: Vec<VenueModel>,
}

impl Market {
    /// A market, checking the limits and that venue ids are unique.
    ///
    /// # Errors
    /// `LimitExceeded`, `ConfigInvalid`.
    pub fn new(tokens: Vec<Token>, venues: Vec<VenueModel>) -> Result<Self, RouterError> {
        if tokens.len() > MAX_TOKENS || venues.len() > MAX_VENUES {
            return Err(RouterError::LimitExceeded {
                what: "tokens/venues",
                value: format!("{}/{}", tokens.len(), venues.len()),
                limit: format!("{MAX_TOKENS}/{MAX_VENUES}"),
            });
        }
        for (k, v) in venues.iter().enumerate() {
            if venues[..k].iter().any(|w| w.id() == v.id()) {
                return Err(RouterError::ConfigInvalid {
                    field: "venue.id".into(),
                    value: v.id().into(),
                    reason: "venue ids must be unique",
                });
            }
        }
        Ok(Market { tokens, venues })
    }

    /// The id of a symbol.
    ///
    /// # Errors
    /// `UnknownToken`.
    pub fn token(&self, symbol: &str) -> Result<TokenId, RouterError> {
        let index =
            self.tokens.iter().position(|t| t.symbol == symbol).ok_or_else(|| RouterError::UnknownToken { symbol: symbol.to_string() })?;
        // MAX_TOKENS < 2^16, so the index fits.
        Ok(TokenId(index as u16))
    }

    /// The token of an id (ids come from this market's own lookups).
    ///
    /// # Errors
    /// `UnknownToken` for an id past the table.
    pub fn token_info(&self, id: TokenId) -> Result<&Token, RouterError> {
        self.tokens.get(usize::from(id.0)).ok_or_else(|| RouterError::UnknownToken { symbol: format!("#{}", id.0) })
    }

    /// Index of a venue by id.
    ///
    /// # Errors
    /// `UnknownVenue`.
    pub fn venue_index(&self, id: &str) -> Result<usize, RouterError> {
        self.venues.iter().position(|v| v.id() == id).ok_or_else(|| RouterError::UnknownVenue { id: id.to_string() })
    }

    /// Venues that swap `from` into `to` with delivery (no perpetuals, no lending).
    #[must_use]
    pub fn spot_venues(&self, from: TokenId, to: TokenId) -> Vec<usize> {
        let spot = |v: &VenueModel| !matches!(v.kind(), VenueKind::Lending | VenueKind::OrderBook(crate::venue::Instrument::Perp));
        (0..self.venues.len()).filter(|&k| spot(&self.venues[k]) && self.venues[k].trades(from, to)).collect()
    }

    /// Parse a decimal amount of a token into raw units (exact; too many decimals is an error).
    ///
    /// # Errors
    /// `UnknownToken`, `Money`.
    pub fn parse_amount(&self, token: TokenId, decimal: &str) -> Result<Amount, RouterError> {
        Ok(Amount::parse(decimal, self.token_info(token)?.scale)?)
    }

    /// Raw units as a decimal string.
    ///
    /// # Errors
    /// `UnknownToken`.
    pub fn format_amount(&self, token: TokenId, amount: Amount) -> Result<String, RouterError> {
        Ok(amount.to_decimal_string(self.token_info(token)?.scale))
    }
}
