// Fuzz: the block validators: context-free checks, header context against genesis, and
// application to the dev genesis state. Invariant: a block that applies conserves money
// (balances after == before + subsidy).
#include <cstdlib>
#include <map>

#include "consensus/checks.h"
#include "consensus/pow.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace peerchain;
  static const consensus::Params params = [] {
    auto p = consensus::dev_params();
    p.pow_limit = ~consensus::Uint256(0);  // let the fuzzer past proof of work
    p.pow_limit >>= 1;
    return p;
  }();
  auto b = primitives::decode_block(util::ByteSpan(data, size));
  if (!b) return 0;
  std::vector<primitives::TxId> ids;
  (void)consensus::check_block(params, *b, ids);
  consensus::ParentContext ctx;
  ctx.parent = params.genesis.header;
  ctx.median_time_past_ms = params.genesis.header.time_ms;
  (void)consensus::check_header_contextual(params, b->header, ctx, static_cast<int64_t>(params.genesis.header.time_ms));
  // Apply to the genesis state regardless of signatures (shape-checked transactions only).
  for (const auto& tx : b->txs)
    if (!consensus::check_tx_shape(params, tx)) return 0;
  std::map<primitives::AccountKey, primitives::Account> state;
  for (const auto& a : params.allocations) state[a.key] = {a.amount, 0};
  auto eff = consensus::apply_block(params, *b, [&](const primitives::AccountKey& k) {
    auto it = state.find(k);
    return it == state.end() ? primitives::Account{} : it->second;
  });
  if (!eff) return 0;
  consensus::uint128_t before = 0, after = 0;
  for (auto& [k, a] : eff->before) before += a.balance;
  for (auto& [k, a] : eff->after) after += a.balance;
  if (after != before + consensus::block_subsidy(params, b->header.height)) std::abort();
  return 0;
}
