//! The risk model in force: installed by the operator in parts, identified by its digest, part
//! of the state (its digest in the state hash, its whole encoding in snapshots). Replay never
//! reads a market-data file: the model is an input of the journal like any command.
//!
//! Installation in parts (`install_risk_model_part`): a model of 8,000 scenarios x 40
//! instruments is about 2.5 MB of arrays, above the journal's record limit
//! ([`crate::limits::RECORD_BYTES_MAX`], 1 MiB). The operator sends the model's canonical
//! (postcard) encoding cut into parts of at most [`RISK_MODEL_PART_BYTES_MAX`] bytes, hex
//! encoded, in order, each naming the digest of the whole and the number of parts. Part 0 starts
//! a new staging (replacing one left unfinished); each following part must be the next one of the
//! same digest; the last part completes it: the bytes must hash to the announced digest, decode,
//! re-encode to the same bytes, pass [`RiskModel::validate`], and name only known assets or
//! underlyings; then the model replaces the one in force. A rejected part changes nothing (the
//! staging stays as it was). The staging is state: its digest, counters and a hash chain of the
//! received parts enter the state hash, its bytes the snapshot.
//!
//! Invariants: the model in force passed every check above; its digest is `digest()` of it.

use crate::*;
use margin_core::{RiskModel, UnitBounds};
use std::sync::Arc;

/// Bytes of the model's encoding in one part (twice as many hex characters: 512 KiB, half the
/// journal's record limit, checked in [`crate::limits`]).
pub const RISK_MODEL_PART_BYTES_MAX: usize = 256 * 1024;
/// Parts of one model: at most 5 MiB of encoding (8,000 scenarios x 40 instruments is about
/// 2 MB; the bound keeps a snapshot of the largest limits within the journal's).
pub const RISK_MODEL_PARTS_MAX: u32 = 20;

/// A model being received in parts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RiskStaging {
    pub digest: [u8; 32],
    pub parts: u32,
    pub received: u32,
    /// BLAKE3 chain over the parts received: `h_i = H(h_{i-1} || part_i)`.
    pub chain: [u8; 32],
    pub bytes: Vec<u8>,
}

/// The model in force and the staging, as the state holds them.
#[derive(Debug, Clone, Default)]
pub(crate) struct RiskModelState {
    pub model: Option<Arc<RiskModel>>,
    pub digest: [u8; 32],
    pub staging: Option<RiskStaging>,
    /// The model's unit bounds for the pre-trade bound (a pure function of the model, computed
    /// once when it is installed or restored; not serialized).
    pub bounds: Option<Arc<UnitBounds>>,
    /// Per instrument of the model: the largest `|pnl|` of its array (the health bound's
    /// sensitivity), computed with the bounds.
    pub pnl_max: Arc<Vec<i128>>,
}

/// The largest `|pnl|` of each instrument's array.
fn pnl_max(model: &RiskModel) -> Arc<Vec<i128>> {
    Arc::new(model.instruments.iter().map(|a| a.pnl.iter().map(|p| i128::from(*p).abs()).max().unwrap_or(0)).collect())
}

/// One part of an `install_risk_model_part` command.
pub(crate) struct ModelPart<'a> {
    pub digest: &'a str,
    pub part: u32,
    pub parts: u32,
    pub data: &'a str,
}

/// The commands that install `model` (for tools and tests): its encoding cut into parts.
pub fn risk_model_parts(model: &RiskModel) -> Vec<Command> {
    let bytes = postcard::to_allocvec(model).expect("a RiskModel always serialises");
    let digest = hex(&model.digest());
    let chunks: Vec<&[u8]> = bytes.chunks(RISK_MODEL_PART_BYTES_MAX).collect();
    let parts = chunks.len() as u32;
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| Command::InstallRiskModelPart { digest: digest.clone(), part: i as u32, parts, data: hex(c) })
        .collect()
}

fn refused(why: impl Into<String>) -> EngineError {
    EngineError::RiskModelRefused { why: why.into() }
}

impl Engine {
    /// The risk model in force, if any.
    pub fn risk_model(&self) -> Option<&RiskModel> {
        self.risk_model.model.as_deref()
    }

    /// The digest of the risk model in force (zero without one).
    pub fn risk_model_digest(&self) -> [u8; 32] {
        self.risk_model.digest
    }

    /// The model margin uses now: installed and not older than `risk_model_max_age_ms`.
    pub(crate) fn usable_model(&self) -> Result<Arc<RiskModel>, EngineError> {
        let stale = |why: String| EngineError::RiskModelStale { why };
        let Some(max_age_ms) = self.config.settings.risk_model_max_age_ms else {
            return Err(stale("margin is not configured (engine.risk_model_max_age_ms)".into()));
        };
        let model = self.risk_model.model.clone().ok_or_else(|| stale("no risk model installed".into()))?;
        let age_ms = self.now_ms.saturating_sub(model.as_of_ms);
        if age_ms > max_age_ms {
            return Err(stale(format!("the risk model as of {} ms is {age_ms} ms old, at most {max_age_ms}", model.as_of_ms)));
        }
        Ok(model)
    }

    pub(crate) fn install_risk_model_part(&mut self, p: &ModelPart<'_>, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let digest = parse_digest(p.digest)?;
        if p.parts == 0 || p.parts > RISK_MODEL_PARTS_MAX || p.part >= p.parts {
            return Err(refused(format!("part {} of {} (1 to {RISK_MODEL_PARTS_MAX} parts)", p.part, p.parts)));
        }
        let data = parse_hex(p.data)?;
        let mut staging = match (&self.risk_model.staging, p.part) {
            (_, 0) => RiskStaging { digest, parts: p.parts, received: 0, chain: [0; 32], bytes: Vec::new() },
            (Some(s), part) if s.digest == digest && s.parts == p.parts && s.received == part => s.clone(),
            (Some(s), part) => {
                return Err(refused(format!("part {part} does not follow the staging ({} of {} received)", s.received, s.parts)));
            }
            (None, part) => return Err(refused(format!("part {part} without part 0"))),
        };
        let mut h = blake3::Hasher::new();
        h.update(&staging.chain);
        h.update(&data);
        staging.chain = *h.finalize().as_bytes();
        staging.bytes.extend_from_slice(&data);
        staging.received += 1;
        if staging.received < staging.parts {
            events.push(Event::RiskModelPartReceived { digest: hex(&digest), part: p.part, parts: p.parts });
            self.risk_model.staging = Some(staging);
            return Ok(());
        }
        let model = self.decode_model(&staging)?;
        events.push(Event::RiskModelInstalled {
            digest: hex(&digest),
            label: model.label.clone(),
            as_of_ms: model.as_of_ms,
            scenarios: model.columns() as u32,
            instruments: model.instruments.len() as u32,
        });
        let (bounds, pnl_max) = (Some(Arc::new(model.unit_bounds())), pnl_max(&model));
        self.risk_model = RiskModelState { model: Some(Arc::new(model)), digest, staging: None, bounds, pnl_max };
        self.margin_cache_clear();
        Ok(())
    }

    /// The staged bytes as a model: digest, canonical encoding, validity, known names.
    fn decode_model(&self, staging: &RiskStaging) -> Result<RiskModel, EngineError> {
        if *blake3::hash(&staging.bytes).as_bytes() != staging.digest {
            return Err(refused("the parts do not hash to the announced digest"));
        }
        let model: RiskModel = postcard::from_bytes(&staging.bytes).map_err(|e| refused(format!("does not decode: {e}")))?;
        if model.digest() != staging.digest {
            return Err(refused("not the canonical encoding of a model"));
        }
        model.validate().map_err(|e| refused(e.to_string()))?;
        self.check_model_names(&model)?;
        Ok(model)
    }

    /// Every instrument is a known asset (of the same decimals), the instrument of a derivative
    /// market (at [`model::DERIVATIVE_DECIMALS`]), or a position on an external venue
    /// (`id@venue`, which the engine does not hold: inert here); every underlying is a symbol
    /// `set_price` accepts.
    fn check_model_names(&self, model: &RiskModel) -> Result<(), EngineError> {
        for i in &model.instruments {
            let decimals = match self.asset_index.get(&i.id) {
                Some(asset) => self.assets[asset.0 as usize].scale.decimals(),
                None if self.markets.iter().any(|m| m.def.instrument.as_deref() == Some(i.id.as_str())) => model::DERIVATIVE_DECIMALS,
                None if i.id.contains('@') => continue,
                None => return Err(EngineError::RiskModelUnknownName { name: i.id.clone() }),
            };
            if decimals != i.decimals {
                return Err(refused(format!("instrument {} has {} decimals, the engine counts {decimals}", i.id, i.decimals)));
            }
        }
        for u in &model.underlyings {
            let known = u.name == NUMERAIRE || self.asset_index.contains_key(&u.name) || self.config.underlyings.contains(&u.name);
            if !known {
                return Err(EngineError::RiskModelUnknownName { name: u.name.clone() });
            }
        }
        Ok(())
    }

    /// The model and staging into the state hash (only when there is one: a journal without
    /// margin keeps the hashes it had).
    pub(crate) fn hash_risk_model(&self, h: &mut blake3::Hasher) {
        if self.risk_model.model.is_none() && self.risk_model.staging.is_none() {
            return;
        }
        h.update(b"risk_model");
        h.update(&self.risk_model.digest);
        if let Some(s) = &self.risk_model.staging {
            h.update(&s.digest);
            h.update(&s.parts.to_le_bytes());
            h.update(&s.received.to_le_bytes());
            h.update(&s.chain);
        }
    }

    /// The model in force as its canonical encoding (for snapshots).
    pub(crate) fn risk_model_bytes(&self) -> Option<Vec<u8>> {
        self.risk_model.model.as_ref().map(|m| postcard::to_allocvec(&**m).expect("a RiskModel always serialises"))
    }

    /// Restores the model from a snapshot's encoding; it must decode to a valid model.
    pub(crate) fn restore_risk_model(&mut self, bytes: Option<&[u8]>, staging: Option<RiskStaging>) -> Result<(), String> {
        if let Some(bytes) = bytes {
            let model: RiskModel = postcard::from_bytes(bytes).map_err(|e| format!("risk model: {e}"))?;
            model.validate().map_err(|e| e.to_string())?;
            self.risk_model.digest = model.digest();
            self.risk_model.bounds = Some(Arc::new(model.unit_bounds()));
            self.risk_model.pnl_max = pnl_max(&model);
            self.risk_model.model = Some(Arc::new(model));
        }
        if let Some(s) = &staging {
            let well_formed = s.received < s.parts && s.parts <= RISK_MODEL_PARTS_MAX;
            if !well_formed || s.bytes.len() > s.received as usize * RISK_MODEL_PART_BYTES_MAX {
                return Err("risk model staging out of bounds".into());
            }
        }
        self.risk_model.staging = staging;
        Ok(())
    }
}

fn parse_digest(text: &str) -> Result<[u8; 32], EngineError> {
    let bytes = parse_hex(text)?;
    bytes.try_into().map_err(|_| EngineError::MalformedField { field: "digest".into(), why: "64 hex digits".into() })
}

fn parse_hex(text: &str) -> Result<Vec<u8>, EngineError> {
    let bad = |why: &str| EngineError::MalformedField { field: "data".into(), why: why.into() };
    if text.is_empty() || !text.len().is_multiple_of(2) || text.len() > 2 * RISK_MODEL_PART_BYTES_MAX {
        return Err(bad("1 to 262144 bytes as an even number of lowercase hex digits"));
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| bad("not lowercase hex"))
}
