//! Range checks that run before a command is built, so that input the engine would reject for
//! its form (a malformed number, off the tick or lot, out of the market's range) is a 400 and is
//! never journalled. Business rejections (balance, holds, bands) stay the engine's. They read the
//! configuration the service started with ([`crate::AppState::config`]): the service journals no
//! `configure` command, so the engine's configuration does not change under it.

use crate::api::OrderRequest;
use crate::error::{Result, ServerError};
use engine::StateConfig;
use money::{Amount, Scale};

fn out_of_range(field: &str, why: impl Into<String>) -> ServerError {
    ServerError::OutOfRange { field: field.into(), why: why.into() }
}

pub fn principal_name(field: &str, name: &str) -> Result<()> {
    if model::is_principal_name(name, model::NAME_LEN_MAX as usize) {
        return Ok(());
    }
    Err(out_of_range(field, format!("1 to {} of a-z 0-9 _ -", model::NAME_LEN_MAX)))
}

fn scale_of(config: &StateConfig, field: &str, asset: &str) -> Result<Scale> {
    let def = config
        .assets
        .iter()
        .find(|a| a.symbol == asset)
        .ok_or_else(|| out_of_range("asset", format!("unknown asset {}", crate::printable(asset))))?;
    Scale::new(def.decimals).map_err(|e| out_of_range(field, e.to_string()))
}

/// A positive decimal in the asset's units with at most its decimals.
pub fn asset_amount(config: &StateConfig, field: &str, asset: &str, text: &str) -> Result<()> {
    let scale = scale_of(config, field, asset)?;
    positive_units(field, text, scale).map(|_| ())
}

fn positive_units(field: &str, text: &str, scale: Scale) -> Result<i128> {
    let units = Amount::parse(text, scale).map_err(|e| out_of_range(field, e.to_string()))?.units();
    if units <= 0 {
        return Err(out_of_range(field, "must be positive"));
    }
    Ok(units)
}

/// Quantity on the lot within qty_min..qty_max; price positive on the tick (or absent for a
/// market order, present otherwise); spot, perp and option markets alike.
pub fn order(config: &StateConfig, r: &OrderRequest) -> Result<()> {
    let market = config
        .markets
        .iter()
        .find(|m| m.id == r.market)
        .ok_or_else(|| ServerError::NotFound { what: format!("market {}", crate::printable(&r.market)) })?;
    // A derivative's quantity counts its underlying at the derivative decimals.
    let base = match market.kind {
        model::MarketKind::Spot => scale_of(config, "qty", &market.base)?,
        _ => Scale::new(model::DERIVATIVE_DECIMALS).map_err(ServerError::internal)?,
    };
    let quote = scale_of(config, "price", &market.quote)?;
    let parse_cfg = |text: &str, scale: Scale| Amount::parse(text, scale).map(Amount::units).map_err(ServerError::internal);
    let qty = positive_units("qty", &r.qty, base)?;
    let (lot, min, max) = (parse_cfg(&market.lot, base)?, parse_cfg(&market.qty_min, base)?, parse_cfg(&market.qty_max, base)?);
    if lot <= 0 || qty % lot != 0 {
        return Err(out_of_range("qty", format!("a whole number of lots of {}", market.lot)));
    }
    if qty < min || qty > max {
        return Err(out_of_range("qty", format!("within {} .. {}", market.qty_min, market.qty_max)));
    }
    match (&r.price, r.kind) {
        (Some(_), crate::api::Kind::Market) => Err(out_of_range("price", "a market order has no price")),
        (None, crate::api::Kind::Market) => Ok(()),
        (None, _) => Err(out_of_range("price", "required except for market orders")),
        (Some(price), _) => {
            let tick = parse_cfg(&market.tick, quote)?;
            let units = positive_units("price", price, quote)?;
            if tick <= 0 || units % tick != 0 {
                return Err(out_of_range("price", format!("a whole number of ticks of {}", market.tick)));
            }
            if units > i128::from(i64::MAX) {
                return Err(out_of_range("price", "too large"));
            }
            Ok(())
        }
    }
}
