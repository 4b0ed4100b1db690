// consensus/checks.h — the validity rules of transactions and blocks. Pure: no I/O, clock,
// threads or globals; the caller supplies the parent's facts, the time and the account state.
//
// Context-free checks need only the object (shape, sizes, signature, proof of work);
// contextual ones need the chain (height, target, time, nonce, balance).
#pragma once

#include <functional>
#include <map>
#include <span>
#include <vector>

#include "consensus/params.h"
#include "consensus/validation.h"
#include "primitives/account.h"
#include "primitives/block.h"

namespace peerchain::consensus {

using primitives::Account;
using primitives::AccountKey;
using primitives::Block;
using primitives::BlockHeader;
using primitives::Transaction;
using primitives::TxId;

// ---- transactions ----

// Chain id, amount/fee ranges, distinct parties, valid keys. No signature check.
Checked<> check_tx_shape(const Params& p, const Transaction& tx);
// BIP340 signature of the sender over tx.signing_hash().
Checked<> check_tx_signature(const Transaction& tx);
// True iff check_tx_signature passes for every one of `txs`, checked as one batch (ADR 0022):
// 0.5-0.8 of the work of checking each alone for a hundred or more. false: check each alone to
// learn which failed.
bool check_tx_signatures(std::span<const Transaction* const> txs);

// Applies `tx` to the sender's and recipient's states: nonce must equal the sender's next
// nonce and the balance must cover amount + fee. On failure nothing is modified.
// REQUIRES: check_tx_shape(tx) passed (so sender != recipient).
Checked<> apply_tx(const Transaction& tx, Account& sender, Account& recipient);

// ---- headers ----

// What contextual header checks need to know about the parent chain.
struct ParentContext {
  BlockHeader parent;
  std::optional<uint64_t> grandparent_time_ms;  // absent when the parent is genesis
  uint64_t median_time_past_ms = 0;             // median time of the last median_time_span blocks
};

// The compact target a child of `ctx.parent` must carry: relative ASERT, one step from the
// parent's target by how late or early the parent came (docs/adr/0004-retarget.md). Blocks 1
// and 2 keep the genesis target.
uint32_t next_bits(const Params& p, const ParentContext& ctx);

// Version, a canonical target no easier than pow_limit, and id <= target.
Checked<> check_header_pow(const Params& p, const BlockHeader& h);
// Height, prev id, bits, median-time and future-time rules.
Checked<> check_header_contextual(const Params& p, const BlockHeader& h, const ParentContext& ctx,
                                  int64_t now_ms);

// ---- blocks ----

// Says whether a transaction's signature is already known valid (the signature cache). May be
// empty: then every signature is checked.
using VerifiedLookup = std::function<bool(const TxId&)>;

// Header proof of work, size and count limits, Merkle root, every transaction's shape and
// signature. Fills `ids` with the transaction ids (computed once, reused by callers).
Checked<> check_block(const Params& p, const Block& b, std::vector<TxId>& ids,
                      const VerifiedLookup& verified = {});
// The same checks with the ids already taken by the caller (a block's ids are needed before
// these checks, to look its signatures up). REQUIRES: ids[i] == b.txs[i].id() for every i.
// root_matched: the caller compared compute_merkle_root(ids) with b.header.merkle_root already
// (a block rebuilt from a sketch is: PartialBlock::take), so it is not computed again.
Checked<> check_block_with_ids(const Params& p, const Block& b, std::span<const TxId> ids,
                               const VerifiedLookup& verified = {}, bool root_matched = false);

// The effect of a block on account state: each touched account before and after.
struct BlockEffect {
  std::map<AccountKey, Account> before;
  std::map<AccountKey, Account> after;
  primitives::Amount fees = 0;
  primitives::Amount reward = 0;  // subsidy + fees credited to the miner
};
using AccountLookup = std::function<Account(const AccountKey&)>;

// Applies the block's transactions in order, then pays the miner subsidy + fees.
// REQUIRES: check_block(b) passed.
Checked<BlockEffect> apply_block(const Params& p, const Block& b, const AccountLookup& lookup);

// ---- fork choice ----

// True iff a chain with (work_a, first seen at seq_a) is preferred to (work_b, seq_b): more
// cumulative work, and on a tie the one seen first.
bool better_chain(const Uint256& work_a, uint64_t seq_a, const Uint256& work_b, uint64_t seq_b);

}  // namespace peerchain::consensus
