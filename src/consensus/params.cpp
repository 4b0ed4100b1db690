#include "consensus/params.h"

#include "consensus/pow.h"

namespace peerchain::consensus {

using primitives::Amount;
using primitives::kCoin;

crypto::Hash256 allocations_commitment(const std::vector<GenesisAllocation>& allocs) {
  static const crypto::TaggedHash hasher("peerchain/genesis-alloc");
  util::Writer w;
  w.compact_size(allocs.size());
  for (const auto& a : allocs) {
    w.fixed(a.key);
    w.u64(a.amount);
  }
  return hasher(w.data());
}

crypto::SecretKey dev_account_key(uint32_t index) {
  static const crypto::TaggedHash hasher("peerchain/dev-account");
  util::Writer w;
  w.u32(index);
  for (uint32_t attempt = 0;; ++attempt) {
    w.u32(attempt);
    auto key = crypto::SecretKey::from_bytes(hasher(w.data()));
    if (key) return *key;
  }
}

Amount block_subsidy(const Params& p, uint32_t height) {
  uint32_t halvings = height / p.halving_interval;
  if (halvings >= 63) return 0;
  return p.initial_subsidy >> halvings;
}

namespace {

void make_genesis(Params& p, uint64_t time_ms, uint32_t bits) {
  primitives::BlockHeader h;
  h.version = 1;
  h.height = 0;
  h.merkle_root = allocations_commitment(p.allocations);
  h.time_ms = time_ms;
  h.bits = bits;
  h.nonce = 0;
  p.genesis.header = h;
  p.genesis_id = h.id();
}

}  // namespace

Params main_params() {
  Params p;
  p.network = "main";
  p.chain_id = 1;
  p.magic = {0xd9, 0x50, 0x43, 0x4d};  // 0xd9 "PCM": the first byte is not ASCII, so never HTTP
  p.address_prefix = "pc";
  p.default_port = 9333;
  p.target_spacing_ms = 30'000;
  p.half_life_ms = 6 * 3600 * 1000;
  p.pow_limit = *decode_compact(0x1e00ffff);  // ~2^232
  p.initial_subsidy = 50 * kCoin;
  p.halving_interval = 4'200'000;             // ~4 years of 30 s blocks
  p.max_block_txs = 50'000;
  p.max_block_bytes = 8'000'000;
  p.max_future_block_ms = 2 * 60 * 1000;
  p.median_time_span = 11;
  p.finality_depth = 20;
  // Main network launches with no premine.
  make_genesis(p, 1795478400000ULL /* 2026-11-24T00:00:00Z */, 0x1e00ffff);
  return p;
}

Params dev_params() {
  Params p;
  p.network = "dev";
  p.chain_id = 2;
  p.magic = {0xd9, 0x50, 0x43, 0x44};  // 0xd9 "PCD"
  p.address_prefix = "pcdev";
  p.default_port = 19333;
  p.target_spacing_ms = 1'000;
  p.half_life_ms = 3600 * 1000;
  p.pow_limit = *decode_compact(0x2000ffff);  // ~2^248: a few hundred hashes
  p.initial_subsidy = 50 * kCoin;
  p.halving_interval = 1'000'000;
  p.max_block_txs = 50'000;
  p.max_block_bytes = 8'000'000;
  p.max_future_block_ms = 2 * 60 * 1000;
  p.median_time_span = 11;
  p.finality_depth = 6;
  for (uint32_t i = 0; i < kDevAccounts; ++i)
    p.allocations.push_back({dev_account_key(i).pubkey(), kDevAccountFunds});
  // Starting target ~2^256/100,000: about a second per block for a few capped dev miners.
  make_genesis(p, 1793491200000ULL /* 2026-11-01T00:00:00Z */, 0x1f00a7c5);
  return p;
}

std::optional<Params> params_for(std::string_view network) {
  if (network == "main") return main_params();
  if (network == "dev") return dev_params();
  return std::nullopt;
}

}  // namespace peerchain::consensus
