// chain/test_util.h — helpers for chain tests: easy-target parameters, a block forge that
// builds valid blocks on any parent, and a ChainState in a temporary directory.
#pragma once

#include <map>
#include <memory>

#include "chain/chainstate.h"
#include "chain/miner.h"
#include "consensus/pow.h"
#include "storage/test_dir.h"

namespace peerchain::chain::testing {

// Dev parameters with a target so easy that a block takes a couple of hashes.
inline consensus::Params easy_params() {
  consensus::Params p = consensus::dev_params();
  p.pow_limit = *consensus::decode_compact(0x207fffff);
  p.genesis.header.bits = 0x207fffff;
  p.genesis_id = p.genesis.header.id();
  return p;
}

// Builds valid blocks on arbitrary parents, tracking headers and account state per block.
class Forge {
 public:
  explicit Forge(const consensus::Params& p) : p_(p) {
    headers_[p.genesis_id] = p.genesis.header;
    std::map<primitives::AccountKey, primitives::Account> s;
    for (const auto& a : p.allocations) s[a.key] = primitives::Account{a.amount, 0};
    states_[p.genesis_id] = s;
  }

  // A block on `parent` with `txs`, timestamped `spacing_ms` after its parent (on schedule by
  // default, so every block carries the same target).
  primitives::Block make(const primitives::BlockId& parent, std::vector<primitives::Transaction> txs = {},
                         const primitives::AccountKey* miner = nullptr, int64_t spacing_ms = -1) {
    const auto& ph = headers_.at(parent);
    consensus::ParentContext ctx;
    ctx.parent = ph;
    if (ph.height > 0) ctx.grandparent_time_ms = headers_.at(ph.prev_id).time_ms;
    std::vector<uint64_t> times;
    primitives::BlockId cur = parent;
    for (int i = 0; i < p_.median_time_span; ++i) {
      const auto& h = headers_.at(cur);
      times.push_back(h.time_ms);
      if (h.height == 0) break;
      cur = h.prev_id;
    }
    std::sort(times.begin(), times.end());
    ctx.median_time_past_ms = times[times.size() / 2];
    BlockTemplate t;
    auto& h = t.block.header;
    h.version = 1;
    h.height = ph.height + 1;
    h.prev_id = parent;
    h.time_ms = ph.time_ms + static_cast<uint64_t>(spacing_ms < 0 ? p_.target_spacing_ms : spacing_ms);
    h.bits = consensus::next_bits(p_, ctx);
    h.miner = miner ? *miner : consensus::dev_account_key(0).pubkey();
    t.block.txs = std::move(txs);
    h.merkle_root = primitives::compute_merkle_root(t.block.txs);
    t.target = *consensus::decode_compact(h.bits);
    uint64_t hashes = 0;
    Miner::solve(t, [] { return false; }, hashes);
    auto id = t.block.id();
    headers_[id] = h;
    auto state = states_.at(parent);
    auto eff = consensus::apply_block(p_, t.block, [&](const primitives::AccountKey& k) {
      auto it = state.find(k);
      return it == state.end() ? primitives::Account{} : it->second;
    });
    if (eff) {
      for (auto& [k, a] : eff->after) state[k] = a;
      states_[id] = state;
    } else {
      states_[id] = states_.at(parent);  // an invalid block: its children see the parent's state
    }
    return t.block;
  }

  const std::map<primitives::AccountKey, primitives::Account>& state(const primitives::BlockId& id) const {
    return states_.at(id);
  }
  primitives::Account account(const primitives::BlockId& at, const primitives::AccountKey& k) const {
    const auto& s = states_.at(at);
    auto it = s.find(k);
    return it == s.end() ? primitives::Account{} : it->second;
  }

 private:
  consensus::Params p_;
  std::map<primitives::BlockId, primitives::BlockHeader> headers_;
  std::map<primitives::BlockId, std::map<primitives::AccountKey, primitives::Account>> states_;
};

// A ChainState on RocksDB in its own temporary directory, with a manual clock far enough ahead
// that forged timestamps are never "in the future".
class TestNode {
 public:
  explicit TestNode(const consensus::Params& p, storage::TestDir* dir = nullptr, ChainOptions opts = {})
      : params_(p), clock_(static_cast<int64_t>(p.genesis.header.time_ms) + 10'000'000'000) {
    if (!dir) {
      own_dir_ = std::make_unique<storage::TestDir>();
      dir = own_dir_.get();
    }
    path_ = dir->sub("chain");
    opts_ = opts;
    reopen();
  }
  void close() { chain_.reset(); }
  void reopen() {
    chain_.reset();
    auto db = storage::Database::open(path_);
    if (!db) throw std::runtime_error(db.error().to_string());
    auto cs = ChainState::open(params_, std::move(*db), clock_, opts_);
    if (!cs) throw std::runtime_error(cs.error().to_string());
    chain_ = std::move(*cs);
  }
  ChainState& chain() { return *chain_; }
  ChainState* operator->() { return chain_.get(); }
  util::ManualClock& clock() { return clock_; }
  const std::string& path() const { return path_; }

 private:
  consensus::Params params_;
  util::ManualClock clock_;
  ChainOptions opts_;
  std::unique_ptr<storage::TestDir> own_dir_;
  std::string path_;
  std::unique_ptr<ChainState> chain_;
};

}  // namespace peerchain::chain::testing
