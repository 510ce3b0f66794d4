//! The `/v1/` handlers: every mutating one authenticates ([`Signed`]), checks its input
//! (nothing reaches the journal that the schema or a range check refuses), builds one engine
//! command sent as the signer with the signed nonce as its id, and maps the outcome with
//! [`answer`]. New commands plug in as a request type, a handler and a line in the route table
//! (`routes.rs`).

use crate::AppState;
use crate::auth::{Caller, parse_public_key};
use crate::error::{Result, ServerError};
use crate::validate;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use engine::{Command, Envelope, Outcome};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use utoipa::ToSchema;

pub type Shared = Arc<AppState>;

/// An authenticated request with its raw body (the signature covers the bytes as sent).
pub struct Signed {
    pub caller: Caller,
    pub body: Bytes,
}

impl FromRequest<Shared> for Signed {
    type Rejection = ServerError;

    async fn from_request(request: Request, state: &Shared) -> Result<Signed> {
        let (parts, body) = request.into_parts();
        let body = read_body(body, state.limits.body_bytes_max).await?;
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mutating = parts.method != Method::GET;
        let caller = state.auth.authenticate(parts.method.as_str(), path, &parts.headers, &body, crate::auth::now_ms(), mutating).await?;
        Ok(Signed { caller, body })
    }
}

pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|_| ServerError::BodyTooLarge { limit })
}

impl Signed {
    /// The body as `T`: malformed JSON and schema mismatches (wrong types, unknown or missing
    /// fields, numbers out of their type's range) are told apart.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        parse_json(&self.body)
    }

    fn require_operator(&self, action: &str) -> Result<()> {
        if self.caller.is_operator {
            return Ok(());
        }
        Err(ServerError::Forbidden { principal: self.caller.principal.clone(), action: action.into() })
    }
}

pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ServerError::InvalidBody { detail: e.to_string() },
        _ => ServerError::MalformedJson { detail: e.to_string() },
    })
}

/// Submits a command as the caller (envelope id = signed nonce) and maps the outcome: applied
/// is 200 with its events; a retry is answered with the first outcome (`x-ch-duplicate: true`);
/// a rejection (journalled) is 422 with the engine's code and seq; a refusal is 4xx.
pub async fn submit(state: &Shared, caller: &Caller, command: Command) -> Result<Response> {
    let envelope = Envelope { client: caller.principal.clone(), id: caller.nonce, command };
    let ack = state.core.submit(envelope).await?;
    answer(ack.outcome, ack.duplicate)
}

/// The body of an applied command, serialised straight from the events (no intermediate
/// `serde_json::Value`).
#[derive(serde::Serialize)]
struct Applied<'a> {
    events: &'a [engine::Event],
    seq: u64,
}

pub fn answer(outcome: Outcome, duplicate: bool) -> Result<Response> {
    let mut response = match outcome {
        Outcome::Applied { seq, events } => Json(Applied { events: &events, seq }).into_response(),
        Outcome::Rejected { seq, error } => ServerError::Rejected { seq, error }.into_response(),
        Outcome::Refused { error } => return Err(ServerError::from_refusal(error)),
        Outcome::Duplicate { first_seq } => {
            return Err(ServerError::internal(format!("the node answers retries with the first outcome (seq {first_seq})")));
        }
    };
    if duplicate {
        response.headers_mut().insert("x-ch-duplicate", HeaderValue::from_static("true"));
    }
    Ok(response)
}

// ------------------------------------------------------------------ requests

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    /// The principal to register (1 to 64 of a-z 0-9 _ -); also the key id.
    pub name: String,
    /// Hex ed25519 public key (32 bytes) that signed this very request.
    pub public_key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// Sub-account name; the account is `<signer>/<sub>`.
    pub sub: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositRequest {
    pub account: String,
    pub asset: String,
    /// Decimal string in the asset's units, positive, at most the asset's decimals.
    pub amount: String,
    pub custodian: String,
    /// Chain reference (tx hash); a deposit is idempotent on it.
    pub external_ref: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalRequest {
    pub account: String,
    pub asset: String,
    pub amount: String,
    pub custodian: String,
    pub destination: String,
    pub withdrawal_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmWithdrawalRequest {
    pub chain_ref: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub from: String,
    pub to: String,
    pub asset: String,
    pub amount: String,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Limit,
    Market,
    ImmediateOrCancel,
    FillOrKill,
    PostOnly,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub account: String,
    /// Market id, e.g. `ETH/USDC`.
    pub market: String,
    pub client_order_id: u64,
    pub side: Side,
    pub kind: Kind,
    /// Quote per whole base, on the tick; required except for `market` orders.
    #[serde(default)]
    pub price: Option<String>,
    /// Base quantity, on the lot, within the market's qty_min..qty_max.
    pub qty: String,
}

#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CancelQuery {
    pub account: String,
    pub market: String,
}

impl From<Side> for engine::markets::OrderSide {
    fn from(side: Side) -> Self {
        match side {
            Side::Buy => engine::markets::OrderSide::Buy,
            Side::Sell => engine::markets::OrderSide::Sell,
        }
    }
}

impl From<Kind> for engine::markets::OrderKind {
    fn from(kind: Kind) -> Self {
        use engine::markets::OrderKind as K;
        match kind {
            Kind::Limit => K::Limit,
            Kind::Market => K::Market,
            Kind::ImmediateOrCancel => K::ImmediateOrCancel,
            Kind::FillOrKill => K::FillOrKill,
            Kind::PostOnly => K::PostOnly,
        }
    }
}

// ------------------------------------------------------------------ handlers

/// Asks for a key: the request is signed by the key in its body (key id = the name). The
/// operator confirms it with `POST /v1/registrations/{name}/confirm`.
#[utoipa::path(post, path = "/v1/registrations", request_body = RegistrationRequest,
    responses((status = 202, description = "awaiting the operator"), (status = 401, description = "not signed by the key", body = crate::openapi::ErrorBody)))]
pub async fn request_registration(State(state): State<Shared>, headers: HeaderMap, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, state.limits.body_bytes_max).await?;
    let registration: RegistrationRequest = parse_json(&body)?;
    validate::principal_name("name", &registration.name)?;
    let key = parse_public_key(&registration.public_key)
        .ok_or_else(|| ServerError::OutOfRange { field: "public_key".into(), why: "64 hex digits of an ed25519 public key".into() })?;
    let signed = crate::auth::SignedHeaders::parse(&headers)?;
    if signed.key_id != registration.name {
        return Err(ServerError::BadSignature);
    }
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let message = crate::auth::signing_message("POST", path, &body, signed.nonce, signed.expiry_ms);
    ed25519_dalek::Verifier::verify(&key, message.as_bytes(), &signed.signature).map_err(|_| ServerError::BadSignature)?;
    state.auth.request_registration(&registration.name, key)?;
    tracing::info!(name = %registration.name, "key registration requested");
    Ok((axum::http::StatusCode::ACCEPTED, Json(serde_json::json!({ "name": registration.name, "status": "pending" }))).into_response())
}

/// Operator: pending registrations.
#[utoipa::path(get, path = "/v1/registrations", responses((status = 200, description = "names awaiting confirmation")))]
pub async fn list_registrations(State(state): State<Shared>, signed: Signed) -> Result<Response> {
    signed.require_operator("list registrations")?;
    Ok(Json(serde_json::json!({ "pending": state.auth.pending().into_iter().map(|(name, key)| serde_json::json!({ "name": name, "public_key": key })).collect::<Vec<_>>() })).into_response())
}

/// Operator: confirms a registration: registers the engine principal (an owner), then
/// activates the key. A retry with the same nonce gets the first answer.
#[utoipa::path(post, path = "/v1/registrations/{name}/confirm", params(("name" = String, Path)),
    responses((status = 200, description = "principal registered, key active")))]
pub async fn confirm_registration(State(state): State<Shared>, Path(name): Path<String>, signed: Signed) -> Result<Response> {
    signed.require_operator("confirm registrations")?;
    if !signed.body.is_empty() {
        return Err(ServerError::InvalidBody { detail: "this request has no body".into() });
    }
    let key = state.auth.pending_registration(&name)?;
    let command = Command::RegisterPrincipal { name: name.clone(), role: model::Role::Owner };
    let envelope = Envelope { client: signed.caller.principal.clone(), id: signed.caller.nonce, command };
    let ack = state.core.submit(envelope).await?;
    if let Outcome::Applied { .. } = &ack.outcome {
        state.auth.activate(&name, key)?;
        tracing::info!(name = %name, "principal registered and key activated");
    }
    answer(ack.outcome, ack.duplicate)
}

/// Owner: opens `<signer>/<sub>`.
#[utoipa::path(post, path = "/v1/accounts", request_body = CreateAccountRequest, responses((status = 200, description = "account created")))]
pub async fn create_account(State(state): State<Shared>, signed: Signed) -> Result<Response> {
    let request: CreateAccountRequest = signed.json()?;
    validate::principal_name("sub", &request.sub)?;
    let command = Command::CreateAccount { owner: signed.caller.principal.clone(), sub: request.sub };
    submit(&state, &signed.caller, command).await
}

/// Operator: credits coins observed at a custodian.
#[utoipa::path(post, path = "/v1/deposits", request_body = DepositRequest, responses((status = 200, description = "credited")))]
pub async fn deposit(State(state): State<Shared>, signed: Signed) -> Result<Response> {
    signed.require_operator("deposit")?;
    let r: DepositRequest = signed.json()?;
    validate::asset_amount(&state.config, "amount", &r.asset, &r.amount)?;
    let command =
        Command::Deposit { account: r.account, asset: r.asset, amount: r.amount, custodian: r.custodian, external_ref: r.external_ref };
    submit(&state, &signed.caller, command).await
}

/// Owner: reserves a withdrawal (it moves when the operator confirms it).
#[utoipa::path(post, path = "/v1/withdrawals", request_body = WithdrawalRequest, responses((status = 200, description = "pending")))]
pub async fn request_withdrawal(State(state): State<Shared>, signed: Signed) -> Result<Response> {
    let r: WithdrawalRequest = signed.json()?;
    validate::asset_amount(&state.config, "amount", &r.asset, &r.amount)?;
    let command = Command::RequestWithdrawal {
        account: r.account,
        asset: r.asset,
        amount: r.amount,
        custodian: r.custodian,
        destination: r.destination,
        withdrawal_id: r.withdrawal_id,
    };
    submit(&state, &signed.caller, command).await
}

/// Operator: the withdrawal was sent on chain.
#[utoipa::path(post, path = "/v1/withdrawals/{id}/confirm", params(("id" = String, Path)), request_body = ConfirmWithdrawalRequest,
    responses((status = 200, description = "posted")))]
pub async fn confirm_withdrawal(State(state): State<Shared>, Path(id): Path<String>, signed: Signed) -> Result<Response> {
    signed.require_operator("confirm withdrawals")?;
    let r: ConfirmWithdrawalRequest = signed.json()?;
    submit(&state, &signed.caller, Command::ConfirmWithdrawal { withdrawal_id: id, chain_ref: r.chain_ref }).await
}

/// Owner or operator: releases a pending withdrawal.
#[utoipa::path(delete, path = "/v1/withdrawals/{id}", params(("id" = String, Path)), responses((status = 200, description = "voided")))]
pub async fn cancel_withdrawal(State(state): State<Shared>, Path(id): Path<String>, signed: Signed) -> Result<Response> {
    submit(&state, &signed.caller, Command::CancelWithdrawal { withdrawal_id: id }).await
}

/// Owner: between two of its own sub-accounts.
#[utoipa::path(post, path = "/v1/transfers", request_body = TransferRequest, responses((status = 200, description = "moved")))]
pub async fn transfer(State(state): State<Shared>, signed: Signed) -> Result<Response> {
    let r: TransferRequest = signed.json()?;
    validate::asset_amount(&state.config, "amount", &r.asset, &r.amount)?;
    submit(&state, &signed.caller, Command::Transfer { from: r.from, to: r.to, asset: r.asset, amount: r.amount }).await
}

/// Owner: places an order; price and quantity are checked against the market (tick, lot,
/// qty_min..qty_max) before anything is journalled.
#[utoipa::path(post, path = "/v1/orders", request_body = OrderRequest, responses((status = 200, description = "accepted, with fills")))]
pub async fn place_order(State(state): State<Shared>, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, state.limits.body_bytes_max).await?;
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let (claim, item) = state.auth.prepare(parts.method.as_str(), path, &parts.headers, &body, crate::auth::now_ms(), true)?;
    let command = order_command(&state, &body);
    // A body error is told only to a caller whose signature, rate and nonce pass (as for
    // every other request); only a well-formed order goes with its signature to the writer.
    let command = match command {
        Ok(command) if state.auth.batch_max() > 1 => command,
        command => {
            let caller = state.auth.finish(&claim, item).await?;
            return submit(&state, &caller, command?).await;
        }
    };
    let envelope = Envelope { client: claim.key_id.clone(), id: claim.nonce, command };
    let check = crate::core::SignatureCheck::new(item, state.auth.batch_max(), state.clone(), claim);
    let ack = state.core.submit_signed(envelope, check).await?;
    answer(ack.outcome, ack.duplicate)
}

fn order_command(state: &Shared, body: &[u8]) -> Result<Command> {
    let r: OrderRequest = parse_json(body)?;
    validate::order(&state.config, &r)?;
    Ok(Command::PlaceOrder {
        account: r.account,
        market: r.market,
        client_order_id: r.client_order_id,
        side: r.side.into(),
        kind: r.kind.into(),
        price: r.price,
        qty: r.qty,
    })
}

/// Owner or operator: cancels one open order.
#[utoipa::path(delete, path = "/v1/orders/{order_id}", params(("order_id" = u64, Path), CancelQuery),
    responses((status = 200, description = "cancelled")))]
pub async fn cancel_order(
    State(state): State<Shared>,
    Path(order_id): Path<u64>,
    Query(q): Query<CancelQuery>,
    signed: Signed,
) -> Result<Response> {
    if !signed.body.is_empty() {
        return Err(ServerError::InvalidBody { detail: "this request has no body".into() });
    }
    submit(&state, &signed.caller, Command::CancelOrder { account: q.account, market: q.market, order_id }).await
}
