//! The venue file (`router.toml`): tokens and venue states, unknown keys refused.
//!
//! Amounts are decimal strings in the token's own units ("30000000" USDC), parsed exactly; Uniswap v3
//! states are given in the contract's terms (initial tick, positions with raw liquidity). The default
//! set (`venues/default.toml`, embedded) documents its provenance per venue.

use crate::error::RouterError;
use crate::market::{Market, Token, VenueModel};
use crate::venue::{
    BookLevel, CurveStableSwap, Instrument, LendingVenue, OrderBookVenue, RateCurve, TokenId, UniswapV2Pair, UniswapV3Venue, V3Position,
};
use money::{Amount, Scale};
use pricing::uniswap_v3::exact::get_sqrt_ratio_at_tick;
use ruint::aliases::U256;
use serde::Deserialize;

/// The venue file format version this crate reads.
pub const VENUE_FILE_VERSION: u32 = 1;

/// The embedded default venue set.
pub const DEFAULT_VENUES_TOML: &str = include_str!("../venues/default.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    #[serde(rename = "token")]
    tokens: Vec<TokenEntry>,
    #[serde(rename = "venue")]
    venues: Vec<VenueEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    symbol: String,
    decimals: u8,
    reference_usd: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PositionEntry {
    tick_lower: i32,
    tick_upper: i32,
    liquidity: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateEntry {
    base_bps: i64,
    slope1_bps: i64,
    slope2_bps: i64,
    optimal_utilisation_bps: i64,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum VenueEntry {
    UniswapV2 {
        id: String,
        token0: String,
        token1: String,
        reserve0: String,
        reserve1: String,
    },
    UniswapV3 {
        id: String,
        token0: String,
        token1: String,
        fee_pips: u32,
        tick_spacing: i32,
        tick: i32,
        positions: Vec<PositionEntry>,
    },
    Curve {
        id: String,
        coins: Vec<String>,
        amp: u64,
        fee: u64,
        admin_fee: u64,
        balances: Vec<String>,
    },
    OrderBook {
        id: String,
        instrument: String,
        base: String,
        quote: String,
        taker_fee_pips: i64,
        bids: Vec<[String; 2]>,
        asks: Vec<[String; 2]>,
    },
    Lending {
        id: String,
        asset: String,
        supplied: String,
        borrowed: String,
        horizon_seconds: i64,
        rates: RateEntry,
    },
}

/// Parse a venue file into a market.
///
/// # Errors
/// `ConfigParse` (syntax, unknown or missing key), `ConfigInvalid`, `UnknownToken`, `Money`, or a venue's
/// own validation error.
pub fn parse_venues(text: &str) -> Result<Market, RouterError> {
    let file: File = toml::from_str(text).map_err(|e| RouterError::ConfigParse(e.to_string()))?;
    if file.version != VENUE_FILE_VERSION {
        return Err(RouterError::ConfigInvalid {
            field: "version".into(),
            value: file.version.to_string(),
            reason: "this build reads venue file version 1",
        });
    }
    let mut tokens = Vec::with_capacity(file.tokens.len());
    for t in &file.tokens {
        if !(t.reference_usd > 0.0 && t.reference_usd.is_finite()) || tokens.iter().any(|x: &Token| x.symbol == t.symbol) {
            return Err(RouterError::ConfigInvalid {
                field: format!("token.{}", t.symbol),
                value: t.reference_usd.to_string(),
                reason: "unique symbol, positive finite reference price",
            });
        }
        tokens.push(Token { symbol: t.symbol.clone(), scale: Scale::new(t.decimals)?, reference_usd: t.reference_usd });
    }
    let shell = Market::new(tokens, Vec::new())?;
    let venues = file.venues.iter().map(|v| build_venue(&shell, v)).collect::<Result<Vec<_>, _>>()?;
    Market::new(shell.tokens, venues)
}

/// The embedded default venue set.
///
/// # Errors
/// Only if the embedded file is broken (a test parses it).
pub fn default_venues() -> Result<Market, RouterError> {
    parse_venues(DEFAULT_VENUES_TOML)
}

fn amount(market: &Market, token: TokenId, decimal: &str) -> Result<Amount, RouterError> {
    market.parse_amount(token, decimal)
}

fn u256_amount(market: &Market, token: TokenId, decimal: &str) -> Result<U256, RouterError> {
    let a = amount(market, token, decimal)?;
    if a.0 <= 0 {
        return Err(RouterError::ConfigInvalid { field: "amount".into(), value: decimal.into(), reason: "must be positive" });
    }
    Ok(U256::from(a.0.unsigned_abs()))
}

fn raw_u128(field: &str, text: &str) -> Result<u128, RouterError> {
    text.parse().map_err(|_| RouterError::ConfigInvalid { field: field.into(), value: text.into(), reason: "a non-negative integer" })
}

fn build_venue(m: &Market, entry: &VenueEntry) -> Result<VenueModel, RouterError> {
    Ok(match entry {
        VenueEntry::UniswapV2 { id, token0, token1, reserve0, reserve1 } => {
            let (t0, t1) = (m.token(token0)?, m.token(token1)?);
            VenueModel::UniswapV2(UniswapV2Pair::new(id, [t0, t1], [u256_amount(m, t0, reserve0)?, u256_amount(m, t1, reserve1)?])?)
        }
        VenueEntry::UniswapV3 { id, token0, token1, fee_pips, tick_spacing, tick, positions } => {
            let sqrt_price = get_sqrt_ratio_at_tick(*tick).map_err(crate::venue::contract(id))?;
            let positions = positions
                .iter()
                .map(|p| {
                    Ok(V3Position { tick_lower: p.tick_lower, tick_upper: p.tick_upper, liquidity: raw_u128("liquidity", &p.liquidity)? })
                })
                .collect::<Result<Vec<_>, RouterError>>()?;
            VenueModel::UniswapV3(UniswapV3Venue::new(
                id,
                [m.token(token0)?, m.token(token1)?],
                sqrt_price,
                *fee_pips,
                *tick_spacing,
                &positions,
            )?)
        }
        VenueEntry::Curve { id, coins, amp, fee, admin_fee, balances } => curve(m, id, coins, *amp, *fee, *admin_fee, balances)?,
        VenueEntry::OrderBook { id, instrument, base, quote, taker_fee_pips, bids, asks } => {
            let instrument = match instrument.as_str() {
                "spot" => Instrument::Spot,
                "perp" => Instrument::Perp,
                other => {
                    return Err(RouterError::ConfigInvalid {
                        field: format!("{id}.instrument"),
                        value: other.into(),
                        reason: "spot or perp",
                    });
                }
            };
            let (b, q) = (m.token(base)?, m.token(quote)?);
            let levels = |side: &[[String; 2]]| -> Result<Vec<BookLevel>, RouterError> {
                side.iter().map(|[price, size]| Ok(BookLevel { price: amount(m, q, price)?.0, size: amount(m, b, size)?.0 })).collect()
            };
            let decimals = m.token_info(b)?.scale.decimals();
            VenueModel::OrderBook(OrderBookVenue::new(
                id,
                instrument,
                b,
                q,
                decimals,
                (*taker_fee_pips).into(),
                levels(bids)?,
                levels(asks)?,
            )?)
        }
        VenueEntry::Lending { id, asset, supplied, borrowed, horizon_seconds, rates } => {
            let a = m.token(asset)?;
            let curve = RateCurve {
                base_bps: rates.base_bps.into(),
                slope1_bps: rates.slope1_bps.into(),
                slope2_bps: rates.slope2_bps.into(),
                optimal_utilisation_bps: rates.optimal_utilisation_bps.into(),
            };
            VenueModel::Lending(LendingVenue::new(
                id,
                a,
                amount(m, a, supplied)?,
                amount(m, a, borrowed)?,
                curve,
                (*horizon_seconds).into(),
            )?)
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn curve(
    m: &Market,
    id: &str,
    coins: &[String],
    amp: u64,
    fee: u64,
    admin_fee: u64,
    balances: &[String],
) -> Result<VenueModel, RouterError> {
    if coins.len() != balances.len() {
        return Err(RouterError::ConfigInvalid {
            field: format!("{id}.balances"),
            value: balances.len().to_string(),
            reason: "one balance per coin",
        });
    }
    let tokens = coins.iter().map(|c| m.token(c)).collect::<Result<Vec<_>, _>>()?;
    let decimals = tokens.iter().map(|&t| Ok(m.token_info(t)?.scale.decimals())).collect::<Result<Vec<_>, RouterError>>()?;
    let raw = tokens.iter().zip(balances).map(|(&t, b)| u256_amount(m, t, b)).collect::<Result<Vec<_>, _>>()?;
    Ok(VenueModel::Curve(CurveStableSwap::new(id, &tokens, &decimals, amp, fee, admin_fee, &raw)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_parses_with_every_kind_of_venue() {
        let market = default_venues().unwrap();
        assert_eq!(market.venues.len(), 10);
        for kind in ["uniswap_v2", "uniswap_v3", "curve", "order_book", "lending"] {
            assert!(DEFAULT_VENUES_TOML.contains(&format!("kind = \"{kind}\"")));
        }
        // USDC has 6 decimals: 30,000,000 USDC is 3e13 raw.
        let crate::market::VenueModel::UniswapV2(pair) = &market.venues[0] else { panic!("first venue is the v2 pair") };
        assert_eq!(pair.reserves[0], U256::from(30_000_000_000_000u64));
    }

    #[test]
    fn unknown_keys_tokens_and_versions_are_refused() {
        let extra_key = DEFAULT_VENUES_TOML.replace("reserve0 = \"30000000\"", "reserve0 = \"30000000\"\nreserve2 = \"1\"");
        assert!(matches!(parse_venues(&extra_key), Err(RouterError::ConfigParse(m)) if m.contains("reserve2")));
        let unknown_token = DEFAULT_VENUES_TOML.replace("token1 = \"ETH\"", "token1 = \"WETH\"");
        assert!(matches!(parse_venues(&unknown_token), Err(RouterError::UnknownToken { symbol }) if symbol == "WETH"));
        let version = DEFAULT_VENUES_TOML.replace("version = 1", "version = 2");
        assert!(matches!(parse_venues(&version), Err(RouterError::ConfigInvalid { .. })));
        let too_precise = DEFAULT_VENUES_TOML.replace("reserve0 = \"30000000\"", "reserve0 = \"30000000.0000001\"");
        assert!(matches!(parse_venues(&too_precise), Err(RouterError::Money(_))));
        let missing = DEFAULT_VENUES_TOML.replace("reserve0 = \"30000000\"\n", "");
        assert!(matches!(parse_venues(&missing), Err(RouterError::ConfigParse(m)) if m.contains("reserve0")));
    }
}
