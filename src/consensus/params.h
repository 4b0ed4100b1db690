// consensus/params.h — chain parameters of each network.
//
// Params are plain values made by a factory per network; nothing global. Everything that two
// nodes must agree on to share a chain is here (the genesis block commits to the allocations).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "consensus/arith.h"
#include "crypto/schnorr.h"
#include "primitives/block.h"

namespace peerchain::consensus {

struct GenesisAllocation {
  primitives::AccountKey key;
  primitives::Amount amount = 0;
};

struct Params {
  std::string network;              // "main" or "dev"
  uint32_t chain_id = 0;            // signed into every transaction
  std::array<uint8_t, 4> magic{};   // peer frame magic
  std::string address_prefix;       // bech32m human-readable part
  uint16_t default_port = 0;

  int64_t target_spacing_ms = 0;    // the interval the retarget steers toward
  int64_t half_life_ms = 0;         // ASERT: blocks this far behind schedule double the target
  Uint256 pow_limit;                // easiest allowed target
  primitives::Amount initial_subsidy = 0;
  uint32_t halving_interval = 0;    // blocks between subsidy halvings

  uint32_t max_block_txs = 0;
  uint64_t max_block_bytes = 0;
  int64_t max_future_block_ms = 0;  // a header may be this far ahead of the local clock
  int median_time_span = 11;        // time must exceed the median of this many ancestors
  uint32_t finality_depth = 0;      // confirmations shown as final

  std::vector<GenesisAllocation> allocations;
  primitives::Block genesis;
  primitives::BlockId genesis_id;
};

Params main_params();
// Dev network: genesis funds development accounts 0..kDevAccounts-1 (dev_account_key) with
// kDevAccountFunds each; an easy starting target and a 1 s target interval.
Params dev_params();
// "main" or "dev"; nullopt otherwise.
std::optional<Params> params_for(std::string_view network);

inline constexpr uint32_t kDevAccounts = 100;
inline constexpr primitives::Amount kDevAccountFunds = 10'000'000'000'000;  // 1e13

// The deterministic secret key of development account `index` (any index; those below
// kDevAccounts are funded by the dev genesis). Public knowledge: for development only.
crypto::SecretKey dev_account_key(uint32_t index);

// Commitment to the genesis allocations, placed in the genesis header's merkle_root field.
crypto::Hash256 allocations_commitment(const std::vector<GenesisAllocation>& allocs);

// Subsidy of the block at `height`.
primitives::Amount block_subsidy(const Params& p, uint32_t height);

}  // namespace peerchain::consensus
