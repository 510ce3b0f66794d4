//! Conformance of the router's Uniswap venue models with the real contracts.
//!
//! The published bytecode of @uniswap/v2-core 1.0.1 (factory, pair, test ERC20) and @uniswap/v3-core
//! 1.0.1 (factory, pool) runs in revm. Thousands of seeded random swaps go to both the contract and the
//! Rust model, which must agree exactly: on v2 the model's output is accepted by the pair and one more
//! unit reverts (`UniswapV2: K`), and the reserves agree after every swap; on v3 the amounts the pool
//! returns, its sqrt price, tick and in-range liquidity agree after every swap, with positions minted
//! over several overlapping and disjoint tick ranges so that swaps cross initialized ticks and gaps.
//!
//! The artifacts come from `scripts/fetch_uniswap_artifacts.sh` (npm pack into a cache directory; no
//! bytecode in the repository). Without npm or network the tests skip with a message, except under
//! `CI`, where that is a failure.

use money::Amount;
use pricing::uniswap_v3::exact::get_sqrt_ratio_at_tick;
use pricing::uniswap_v3_pool::Pool;
use revm::context::TxEnv;
use revm::context::result::{ExecutionResult, Output};
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::{Address, Bytes, TxKind, U256, keccak256};
use revm::{Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext};
use router::venue::{TokenId, UniswapV2Pair, UniswapV3Venue, V3Position, Venue};
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------------------------------------
// Artifacts

/// The artifact cache, fetched once per test process; `None` (after a loud message) when it cannot be
/// had locally.
fn artifacts() -> Option<PathBuf> {
    static CACHE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    CACHE.get_or_init(fetch_artifacts).clone()
}

fn fetch_artifacts() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch_uniswap_artifacts.sh");
    let run = Command::new("bash").arg(&script).output();
    let ci = std::env::var_os("CI").is_some();
    match run {
        Ok(out) if out.status.success() => Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())),
        Ok(out) => {
            let why = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(!ci, "CI is set and the Uniswap artifacts could not be fetched: {why}");
            eprintln!("SKIPPED: Uniswap artifacts unavailable (npm or network missing): {why}");
            None
        }
        Err(e) => {
            assert!(!ci, "CI is set and bash could not run {}: {e}", script.display());
            eprintln!("SKIPPED: cannot run {}: {e}", script.display());
            None
        }
    }
}

fn bytecode(dir: &Path, relative: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(dir.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let hex = json["bytecode"].as_str().or_else(|| json["evm"]["bytecode"]["object"].as_str()).expect("bytecode key");
    decode_hex(hex.trim_start_matches("0x"))
}

fn decode_hex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

// ---------------------------------------------------------------------------------------------------
// A tiny seeded generator (splitmix64), so that failures name a seed that reproduces them.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Log-uniform in [10^lo, 10^hi).
    fn log_uniform(&mut self, lo: u32, hi: u32) -> u128 {
        let exponent = lo as f64 + (self.next() as f64 / u64::MAX as f64) * f64::from(hi - lo);
        10f64.powf(exponent) as u128 + 1
    }
}

// ---------------------------------------------------------------------------------------------------
// ABI encoding by hand (selectors are keccak of the signature).

fn selector(signature: &str) -> [u8; 4] {
    let hash = keccak256(signature.as_bytes());
    [hash[0], hash[1], hash[2], hash[3]]
}

fn word_u(value: U256) -> [u8; 32] {
    value.to_be_bytes::<32>()
}

fn word_i(value: i128) -> [u8; 32] {
    let magnitude = U256::from(value.unsigned_abs());
    if value < 0 { word_u(U256::ZERO.wrapping_sub(magnitude)) } else { word_u(magnitude) }
}

fn word_addr(a: Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a.as_slice());
    w
}

fn call_data(signature: &str, words: &[[u8; 32]]) -> Bytes {
    let mut data = selector(signature).to_vec();
    for w in words {
        data.extend_from_slice(w);
    }
    Bytes::from(data)
}

/// `bytes` argument at the end of a call: its offset word is given by the caller; this is length + data.
fn bytes_tail(payload: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let mut out = vec![word_u(U256::from(32 * payload.len()))];
    out.extend_from_slice(payload);
    out
}

fn read_word(out: &[u8], k: usize) -> U256 {
    U256::from_be_slice(&out[32 * k..32 * (k + 1)])
}

fn read_i256_as_i128(out: &[u8], k: usize) -> i128 {
    let w = read_word(out, k);
    if w.bit(255) {
        let magnitude = U256::ZERO.wrapping_sub(w);
        -i128::try_from(magnitude).unwrap()
    } else {
        i128::try_from(w).unwrap()
    }
}

fn read_address(out: &[u8], k: usize) -> Address {
    Address::from_slice(&out[32 * k + 12..32 * (k + 1)])
}

// ---------------------------------------------------------------------------------------------------
// The EVM

type Evm = revm::handler::MainnetEvm<revm::handler::MainnetContext<CacheDB<EmptyDB>>>;

struct Chain {
    evm: Evm,
    eoa: Address,
}

const GAS: u64 = 16_000_000;

impl Chain {
    fn new() -> Self {
        let evm = Context::mainnet()
            .with_db(CacheDB::new(EmptyDB::default()))
            .modify_cfg_chained(|cfg| cfg.disable_nonce_check = true)
            .build_mainnet();
        Chain { evm, eoa: Address::with_last_byte(0xee) }
    }

    fn tx(&self, kind: TxKind, data: Bytes) -> TxEnv {
        TxEnv::builder().caller(self.eoa).kind(kind).data(data).gas_limit(GAS).build().unwrap()
    }

    fn deploy(&mut self, code: Vec<u8>) -> Address {
        let tx = self.tx(TxKind::Create, Bytes::from(code));
        match self.evm.transact_commit(tx).unwrap() {
            ExecutionResult::Success { output: Output::Create(_, Some(address)), .. } => address,
            other => panic!("deployment failed: {other:?}"),
        }
    }

    /// A committed call; panics on revert.
    fn send(&mut self, to: Address, data: Bytes) -> Vec<u8> {
        match self.try_send(to, data) {
            Ok(out) => out,
            Err(why) => panic!("call to {to} reverted: {why}"),
        }
    }

    fn try_send(&mut self, to: Address, data: Bytes) -> Result<Vec<u8>, String> {
        let tx = self.tx(TxKind::Call(to), data);
        outcome(self.evm.transact_commit(tx).unwrap())
    }

    /// A call whose effects are discarded.
    fn view(&mut self, to: Address, data: Bytes) -> Result<Vec<u8>, String> {
        let tx = self.tx(TxKind::Call(to), data);
        let result = self.evm.transact(tx).unwrap().result;
        outcome(result)
    }
}

fn outcome(result: ExecutionResult) -> Result<Vec<u8>, String> {
    match result {
        ExecutionResult::Success { output, .. } => Ok(output.into_data().to_vec()),
        ExecutionResult::Revert { output, .. } => Err(revert_reason(&output)),
        ExecutionResult::Halt { reason, .. } => Err(format!("halt {reason:?}")),
    }
}

fn revert_reason(output: &[u8]) -> String {
    // Error(string): selector, offset, length, bytes.
    if output.len() >= 68 {
        let len = usize::try_from(read_word(&output[4..], 1)).unwrap_or(0).min(output.len() - 68);
        return String::from_utf8_lossy(&output[68..68 + len]).to_string();
    }
    format!("0x{}", output.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

const SUPPLY: u128 = 10u128.pow(36);

fn deploy_token(chain: &mut Chain, erc20: &[u8]) -> Address {
    let mut code = erc20.to_vec();
    code.extend_from_slice(&word_u(U256::from(SUPPLY)));
    chain.deploy(code)
}

fn transfer(chain: &mut Chain, token: Address, to: Address, amount: U256) {
    chain.send(token, call_data("transfer(address,uint256)", &[word_addr(to), word_u(amount)]));
}

// ---------------------------------------------------------------------------------------------------
// Uniswap v2

fn u256(x: ruint::aliases::U256) -> U256 {
    U256::from_limbs(*x.as_limbs())
}

#[test]
fn v2_pair_agrees_with_the_model_on_random_swaps() {
    let Some(dir) = artifacts() else { return };
    let seed = 0x5eed_0002u64;
    eprintln!("seed {seed:#x}");
    let mut chain = Chain::new();
    let erc20 = bytecode(&dir, "v2/build/ERC20.json");
    let (a, b) = (deploy_token(&mut chain, &erc20), deploy_token(&mut chain, &erc20));
    let mut factory_code = bytecode(&dir, "v2/build/UniswapV2Factory.json");
    factory_code.extend_from_slice(&word_addr(chain.eoa));
    let factory = chain.deploy(factory_code);
    let created = chain.send(factory, call_data("createPair(address,address)", &[word_addr(a), word_addr(b)]));
    let pair = read_address(&created, 0);
    let token0 = read_address(&chain.send(pair, call_data("token0()", &[])), 0);
    let tokens = if token0 == a { [a, b] } else { [b, a] };
    let mut rng = Rng(seed);
    for round in 0..4 {
        // Each round a fresh pair state: new liquidity of different magnitudes and decimals-like skews.
        let reserves = [rng.log_uniform(18, 24), rng.log_uniform(6, 24)];
        v2_round(&mut chain, pair, tokens, reserves, &mut rng, round);
    }
}

fn v2_reserves(chain: &mut Chain, pair: Address) -> [U256; 2] {
    let out = chain.send(pair, call_data("getReserves()", &[]));
    [read_word(&out, 0), read_word(&out, 1)]
}

fn v2_round(chain: &mut Chain, pair: Address, tokens: [Address; 2], add: [u128; 2], rng: &mut Rng, round: u32) {
    for k in 0..2 {
        transfer(chain, tokens[k], pair, U256::from(add[k]));
    }
    chain.send(pair, call_data("mint(address)", &[word_addr(chain.eoa)]));
    let start = v2_reserves(chain, pair);
    let to_ruint = |x: U256| ruint::aliases::U256::from_limbs(*x.as_limbs());
    let mut model = UniswapV2Pair::new("v2", [TokenId(0), TokenId(1)], [to_ruint(start[0]), to_ruint(start[1])]).unwrap();
    let mut rejected_plus_one = 0;
    for swap in 0..500 {
        let side = rng.below(2) as usize;
        let (from, to) = (TokenId(side as u16), TokenId(1 - side as u16));
        let reserve_in = model.reserves[side];
        // Inputs from a millionth to twice the input reserve.
        let max = (reserve_in * ruint::aliases::U256::from(2u8)).to::<u128>().max(2);
        let amount_in = (rng.log_uniform(0, 30) % max).max(1);
        let quoted = model.quote(from, to, Amount(amount_in as i128));
        let Ok(out) = quoted else { continue };
        if out.0 == 0 {
            continue;
        }
        transfer(chain, tokens[side], pair, U256::from(amount_in));
        let outs = |o: u128| if side == 0 { [U256::ZERO, U256::from(o)] } else { [U256::from(o), U256::ZERO] };
        let swap_call = |o: [U256; 2], eoa| {
            call_data(
                "swap(uint256,uint256,address,bytes)",
                &[word_u(o[0]), word_u(o[1]), word_addr(eoa), word_u(U256::from(128u8)), word_u(U256::ZERO)],
            )
        };
        let more = chain.view(pair, swap_call(outs(out.0 as u128 + 1), chain.eoa));
        assert_eq!(more.err().as_deref(), Some("UniswapV2: K"), "round {round} swap {swap}: one more unit than the model must revert");
        rejected_plus_one += 1;
        chain
            .try_send(pair, swap_call(outs(out.0 as u128), chain.eoa))
            .unwrap_or_else(|e| panic!("round {round} swap {swap}: the model's output reverted: {e}"));
        model.execute(from, to, Amount(amount_in as i128)).unwrap();
        let onchain = v2_reserves(chain, pair);
        assert_eq!(onchain, [u256(model.reserves[0]), u256(model.reserves[1])], "round {round} swap {swap}: reserves");
    }
    assert!(rejected_plus_one > 400, "round {round}: only {rejected_plus_one} swaps were checked");
}

// ---------------------------------------------------------------------------------------------------
// Uniswap v3

/// A callback contract in raw EVM code (a test harness, not protocol code): called with a 32-byte pool
/// address followed by a pool call, it forwards the call and returns or reverts with the pool's data;
/// called back by the pool (`uniswapV3MintCallback` / `uniswapV3SwapCallback`: two signed amounts and
/// `bytes data` = abi(token0, token1)), it transfers each positive amount of the token to the pool.
#[rustfmt::skip]
fn callee_code() -> Vec<u8> {
    use Op::*;
    let program = [
        // selector == 0 means a forwarded call (the first word is an address, high bytes zero)
        Push1(0), Raw(0x35), Push1(0xe0), Raw(0x1c), Push2Label("callback"), Raw(0x57),
        // forward: copy calldata[32..] to memory 0
        Push1(0x20), Raw(0x36), Raw(0x03), Raw(0x80), Push1(0x20), Push1(0), Raw(0x37),
        // call(gas, calldataload(0), 0, 0, len, 0, 0)
        Push1(0), Push1(0), Raw(0x82), Push1(0), Push1(0), Push1(0), Raw(0x35), Raw(0x5a), Raw(0xf1),
        // copy the return data, then return or revert with it
        Raw(0x3d), Push1(0), Push1(0), Raw(0x3e), Push2Label("ok"), Raw(0x57), Raw(0x3d), Push1(0), Raw(0xfd),
        Label("ok"), Raw(0x5b), Raw(0x3d), Push1(0), Raw(0xf3),
        // callback: pay token0 (data word at 0x84) amount0 (0x04), token1 (0xa4) amount1 (0x24)
        Label("callback"), Raw(0x5b),
        Pay { amount_at: 0x04, token_at: 0x84, skip: "skip0", next: "next0" },
        Pay { amount_at: 0x24, token_at: 0xa4, skip: "skip1", next: "next1" },
        Raw(0x00),
        Label("fail"), Raw(0x5b), Push1(0), Raw(0x80), Raw(0xfd),
    ];
    assemble(&program)
}

#[derive(Clone, Copy)]
enum Op {
    Raw(u8),
    Push1(u8),
    Push2Label(&'static str),
    Label(&'static str),
    Pay { amount_at: u8, token_at: u8, skip: &'static str, next: &'static str },
}

/// `if (int256(amount) > 0) token.transfer(msg.sender, amount) else skip`, reverting on a failed call.
#[rustfmt::skip]
fn expand(op: Op) -> Vec<Op> {
    use Op::*;
    match op {
        Pay { amount_at, token_at, skip, next } => vec![
            Push1(amount_at), Raw(0x35), Push1(0), Raw(0x81), Raw(0x13), Raw(0x15), Push2Label(skip), Raw(0x57),
            // memory: transfer selector, msg.sender, amount
            Raw(0x63), Raw(0xa9), Raw(0x05), Raw(0x9c), Raw(0xbb), Push1(0xe0), Raw(0x1b), Push1(0), Raw(0x52),
            Raw(0x33), Push1(4), Raw(0x52), Push1(0x24), Raw(0x52),
            // call(gas, token, 0, 0, 0x44, 0, 0x20)
            Push1(0x20), Push1(0), Push1(0x44), Push1(0), Push1(0), Push1(token_at), Raw(0x35), Raw(0x5a), Raw(0xf1),
            Raw(0x15), Push2Label("fail"), Raw(0x57), Push2Label(next), Raw(0x56),
            Label(skip), Raw(0x5b), Raw(0x50),
            Label(next), Raw(0x5b),
        ],
        other => vec![other],
    }
}

fn assemble(program: &[Op]) -> Vec<u8> {
    let ops: Vec<Op> = program.iter().flat_map(|&op| expand(op)).collect();
    let size = |op: &Op| match op {
        Op::Raw(_) => 1,
        Op::Push1(_) => 2,
        Op::Push2Label(_) => 3,
        Op::Label(_) | Op::Pay { .. } => 0,
    };
    let mut labels = std::collections::HashMap::new();
    let mut at = 0usize;
    for op in &ops {
        if let Op::Label(name) = op {
            labels.insert(*name, at);
        }
        at += size(op);
    }
    let mut runtime = Vec::new();
    for op in &ops {
        match *op {
            Op::Raw(b) => runtime.push(b),
            Op::Push1(b) => runtime.extend_from_slice(&[0x60, b]),
            Op::Push2Label(name) => {
                let target = labels[name];
                runtime.extend_from_slice(&[0x61, (target >> 8) as u8, target as u8]);
            }
            Op::Label(_) | Op::Pay { .. } => {}
        }
    }
    // Init code: copy the runtime (after these 13 bytes) to memory and return it.
    let len = runtime.len();
    let mut code = vec![0x61, (len >> 8) as u8, len as u8, 0x80, 0x61, 0x00, 13, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3];
    code.extend_from_slice(&runtime);
    code
}

struct V3Setup {
    chain: Chain,
    pool: Address,
    callee: Address,
    tokens: [Address; 2],
}

impl V3Setup {
    fn data_tail(&self) -> Vec<[u8; 32]> {
        bytes_tail(&[word_addr(self.tokens[0]), word_addr(self.tokens[1])])
    }

    fn through_callee(&mut self, call: Bytes) -> Result<Vec<u8>, String> {
        let mut data = word_addr(self.pool).to_vec();
        data.extend_from_slice(&call);
        let callee = self.callee;
        self.chain.try_send(callee, Bytes::from(data))
    }

    fn mint(&mut self, p: V3Position) {
        let mut words = vec![
            word_addr(self.chain.eoa),
            word_i(i128::from(p.tick_lower)),
            word_i(i128::from(p.tick_upper)),
            word_u(U256::from(p.liquidity)),
            word_u(U256::from(160u8)),
        ];
        words.extend(self.data_tail());
        let call = call_data("mint(address,int24,int24,uint128,bytes)", &words);
        self.through_callee(call).unwrap_or_else(|e| panic!("mint {p:?} reverted: {e}"));
    }

    fn swap(&mut self, zero_for_one: bool, amount_in: u128, limit: U256) -> Result<(i128, i128), String> {
        let mut words = vec![
            word_addr(self.chain.eoa),
            word_u(U256::from(u8::from(zero_for_one))),
            word_i(amount_in as i128),
            word_u(limit),
            word_u(U256::from(160u8)),
        ];
        words.extend(self.data_tail());
        let out = self.through_callee(call_data("swap(address,bool,int256,uint160,bytes)", &words))?;
        Ok((read_i256_as_i128(&out, 0), read_i256_as_i128(&out, 1)))
    }

    /// (sqrtPriceX96, tick, liquidity) as the pool reports them.
    fn state(&mut self) -> (U256, i32, u128) {
        let pool = self.pool;
        let slot0 = self.chain.send(pool, call_data("slot0()", &[]));
        let tick = read_i256_as_i128(&slot0, 1) as i32;
        let liquidity = self.chain.send(pool, call_data("liquidity()", &[]));
        (read_word(&slot0, 0), tick, read_word(&liquidity, 0).to::<u128>())
    }
}

fn v3_setup(dir: &Path, fee_pips: u32, sqrt_price: U256) -> V3Setup {
    let mut chain = Chain::new();
    let erc20 = bytecode(dir, "v2/build/ERC20.json");
    let (a, b) = (deploy_token(&mut chain, &erc20), deploy_token(&mut chain, &erc20));
    let factory = chain.deploy(bytecode(dir, "v3/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json"));
    let created =
        chain.send(factory, call_data("createPool(address,address,uint24)", &[word_addr(a), word_addr(b), word_u(U256::from(fee_pips))]));
    let pool = read_address(&created, 0);
    chain.send(pool, call_data("initialize(uint160)", &[word_u(sqrt_price)]));
    let callee = chain.deploy(callee_code());
    let tokens = if a < b { [a, b] } else { [b, a] };
    for t in tokens {
        transfer(&mut chain, t, callee, U256::from(SUPPLY / 2));
    }
    V3Setup { chain, pool, callee, tokens }
}

/// Positions over several ranges around tick 0: nested, overlapping, one-sided and disjoint (a gap).
fn positions(spacing: i32, rng: &mut Rng) -> Vec<V3Position> {
    let mut out = Vec::new();
    for _ in 0..12 {
        let centre = (rng.below(400) as i32 - 200) * spacing;
        let half = (1 + rng.below(60) as i32) * spacing;
        let liquidity = rng.log_uniform(15, 21);
        out.push(V3Position { tick_lower: centre - half, tick_upper: centre + half, liquidity });
    }
    // A wide base so most swaps stay within liquidity, and a far range beyond a gap.
    out.push(V3Position { tick_lower: -600 * spacing, tick_upper: 600 * spacing, liquidity: 10u128.pow(17) });
    out.push(V3Position { tick_lower: 800 * spacing, tick_upper: 900 * spacing, liquidity: 10u128.pow(19) });
    out
}

fn v3_conformance(fee_pips: u32, spacing: i32, seed: u64, swaps: u32) -> u32 {
    let Some(dir) = artifacts() else { return 0 };
    eprintln!("fee {fee_pips} seed {seed:#x}");
    let mut rng = Rng(seed);
    let start_tick = rng.below(100) as i32 - 50;
    let sqrt_price = get_sqrt_ratio_at_tick(start_tick).unwrap();
    let mut setup = v3_setup(&dir, fee_pips, u256(sqrt_price));
    let mut model = UniswapV3Venue::new("v3", [TokenId(0), TokenId(1)], sqrt_price, fee_pips, spacing, &[]).unwrap();
    for p in positions(spacing, &mut rng) {
        setup.mint(p);
        model.pool.add_liquidity(p.tick_lower, p.tick_upper, p.liquidity).unwrap();
    }
    let (mut crossed, mut partial) = (0u32, 0u32);
    for swap in 0..swaps {
        // Drift towards the middle so the price wanders over the ranges rather than leaving them.
        let zero_for_one = if model.pool.tick > 300 * spacing {
            true
        } else if model.pool.tick < -300 * spacing {
            false
        } else {
            rng.below(2) == 0
        };
        let amount_in = rng.log_uniform(2, 21);
        // Mostly the extreme limit; sometimes a limit a few hundred ticks away (partial fills).
        let limit = if rng.below(5) == 0 {
            let ticks = (1 + rng.below(400) as i32) * if zero_for_one { -1 } else { 1 };
            get_sqrt_ratio_at_tick((model.pool.tick + ticks).clamp(-887_000, 887_000)).unwrap()
        } else {
            Pool::extreme_price_limit(zero_for_one)
        };
        let expected = model.pool.clone().swap_exact_input(zero_for_one, ruint::aliases::U256::from(amount_in), limit);
        let onchain = setup.swap(zero_for_one, amount_in, u256(limit));
        match (expected, onchain) {
            (Ok(outcome), Ok((amount0, amount1))) => {
                let (paid, received) = if zero_for_one { (amount0, -amount1) } else { (amount1, -amount0) };
                assert_eq!(paid, outcome.amount_in.to::<u128>() as i128, "seed {seed:#x} swap {swap}: input taken");
                assert_eq!(received, outcome.amount_out.to::<u128>() as i128, "seed {seed:#x} swap {swap}: output paid");
                model.pool.swap_exact_input(zero_for_one, ruint::aliases::U256::from(amount_in), limit).unwrap();
                crossed += outcome.ticks_crossed;
                partial += u32::from(outcome.amount_in < ruint::aliases::U256::from(amount_in));
            }
            (Err(model_error), Err(reason)) => eprintln!("swap {swap}: both refuse ({model_error} / {reason})"),
            (model_side, chain_side) => panic!("seed {seed:#x} swap {swap}: model {model_side:?} vs contract {chain_side:?}"),
        }
        let (sqrt_onchain, tick_onchain, liquidity_onchain) = setup.state();
        assert_eq!(sqrt_onchain, u256(model.pool.sqrt_price_x96), "seed {seed:#x} swap {swap}: sqrt price");
        assert_eq!(tick_onchain, model.pool.tick, "seed {seed:#x} swap {swap}: tick");
        assert_eq!(liquidity_onchain, model.pool.liquidity, "seed {seed:#x} swap {swap}: liquidity");
    }
    eprintln!("fee {fee_pips}: {swaps} swaps, {crossed} initialized ticks crossed, {partial} partial fills at a price limit");
    assert!(crossed > swaps / 4, "too few tick crossings ({crossed}) to test crossing");
    assert!(partial > 0, "no swap stopped at its price limit");
    crossed
}

#[test]
fn v3_pool_fee_500_agrees_with_the_model_on_random_swaps() {
    v3_conformance(500, 10, 0x5eed_0500, 700);
}

#[test]
fn v3_pool_fee_3000_agrees_with_the_model_on_random_swaps() {
    v3_conformance(3000, 60, 0x5eed_3000, 700);
}

#[test]
fn v3_pool_fee_10000_agrees_with_the_model_on_random_swaps() {
    v3_conformance(10_000, 200, 0x5eed_10000, 700);
}
