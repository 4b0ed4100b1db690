#include "consensus/checks.h"

#include "consensus/pow.h"

namespace peerchain::consensus {

using primitives::Amount;
using primitives::money_range;

Checked<> check_tx_shape(const Params& p, const Transaction& tx) {
  if (tx.chain_id != p.chain_id)
    return reject(RejectCode::kWrongChain, "chain id " + std::to_string(tx.chain_id) + ", expected " +
                                               std::to_string(p.chain_id));
  if (tx.amount == 0 || !money_range(tx.amount))
    return reject(RejectCode::kBadAmount, "amount " + std::to_string(tx.amount) + " out of range");
  if (!money_range(tx.fee)) return reject(RejectCode::kBadFee, "fee out of range");
  if (!money_range(tx.amount + tx.fee)) return reject(RejectCode::kBadAmount, "amount + fee out of range");
  if (tx.sender == tx.recipient) return reject(RejectCode::kSelfTransfer);
  if (!crypto::is_valid_pubkey(tx.recipient)) return reject(RejectCode::kBadRecipient);
  return {};
}

Checked<> check_tx_signature(const Transaction& tx) {
  // An invalid sender key fails verification too, so no separate key check is needed.
  auto msg = tx.signing_hash();
  if (!crypto::schnorr_verify(tx.sender, msg.span(), tx.signature))
    return reject(RejectCode::kBadSignature);
  return {};
}

bool check_tx_signatures(std::span<const Transaction* const> txs) {
  std::vector<crypto::SchnorrCheck> checks;
  checks.reserve(txs.size());
  for (const Transaction* tx : txs) checks.push_back({&tx->sender, tx->signing_hash(), &tx->signature});
  return crypto::schnorr_verify_batch(checks);
}

Checked<> apply_tx(const Transaction& tx, Account& sender, Account& recipient) {
  if (tx.nonce < sender.nonce)
    return reject(RejectCode::kNonceTooLow, "nonce " + std::to_string(tx.nonce) + ", account expects " +
                                                std::to_string(sender.nonce));
  if (tx.nonce > sender.nonce)
    return reject(RejectCode::kNonceTooHigh, "nonce " + std::to_string(tx.nonce) + ", account expects " +
                                                 std::to_string(sender.nonce));
  Amount cost = tx.amount + tx.fee;  // no overflow: both in money range (check_tx_shape)
  if (sender.balance < cost)
    return reject(RejectCode::kInsufficientFunds, "balance " + std::to_string(sender.balance) +
                                                      " < amount + fee " + std::to_string(cost));
  if (recipient.balance + tx.amount > primitives::kMaxMoney)
    return reject(RejectCode::kBalanceOverflow);
  sender.balance -= cost;
  sender.nonce += 1;
  recipient.balance += tx.amount;
  return {};
}

uint32_t next_bits(const Params& p, const ParentContext& ctx) {
  auto parent_target = decode_compact(ctx.parent.bits);
  if (!parent_target) return encode_compact(p.pow_limit);  // unreachable for a valid parent
  // Blocks 1 and 2 keep the genesis target: genesis' timestamp is fixed at launch (for the dev
  // network, long before any given dev network starts), so the first interval means nothing.
  if (!ctx.grandparent_time_ms || ctx.parent.height <= 1) return ctx.parent.bits;
  int64_t dt = static_cast<int64_t>(ctx.parent.time_ms) - static_cast<int64_t>(*ctx.grandparent_time_ms);
  auto t = asert_target(*parent_target, dt, 1, p.target_spacing_ms, p.half_life_ms, p.pow_limit);
  return encode_compact(t);
}

Checked<> check_header_pow(const Params& p, const BlockHeader& h) {
  if (h.version != 1) return reject(RejectCode::kBadVersion, "version " + std::to_string(h.version));
  auto target = decode_compact(h.bits);
  if (!target) return reject(RejectCode::kBadTarget, "invalid compact target");
  if (*target > p.pow_limit) return reject(RejectCode::kBadTarget, "target above the limit");
  if (!meets_target(h.id(), *target)) return reject(RejectCode::kBadPow, "hash above target");
  return {};
}

Checked<> check_header_contextual(const Params& p, const BlockHeader& h, const ParentContext& ctx,
                                  int64_t now_ms) {
  if (h.prev_id != ctx.parent.id()) return reject(RejectCode::kMissingParent, "prev id mismatch");
  if (h.height != ctx.parent.height + 1)
    return reject(RejectCode::kBadHeight, "height " + std::to_string(h.height) + ", expected " +
                                              std::to_string(ctx.parent.height + 1));
  uint32_t want = next_bits(p, ctx);
  if (h.bits != want) return reject(RejectCode::kBadTarget, "bits do not follow the retarget rule");
  if (h.time_ms <= ctx.median_time_past_ms)
    return reject(RejectCode::kTimeTooOld, "time not after the median of the previous blocks");
  if (static_cast<int64_t>(h.time_ms) > now_ms + p.max_future_block_ms)
    return reject(RejectCode::kTimeTooNew, "time " + std::to_string(static_cast<int64_t>(h.time_ms) - now_ms) +
                                               " ms in the future");
  return {};
}

Checked<> check_block(const Params& p, const Block& b, std::vector<TxId>& ids,
                      const VerifiedLookup& verified) {
  ids.clear();
  // Before any id is taken: the proof of work and the count bound the work.
  if (auto r = check_header_pow(p, b.header); !r) return r;
  if (b.txs.size() > p.max_block_txs)
    return reject(RejectCode::kTooManyTxs, std::to_string(b.txs.size()) + " transactions");
  ids = primitives::transaction_ids(b.txs);
  return check_block_with_ids(p, b, ids, verified);
}

Checked<> check_block_with_ids(const Params& p, const Block& b, std::span<const TxId> ids,
                               const VerifiedLookup& verified, bool root_matched) {
  if (auto r = check_header_pow(p, b.header); !r) return r;
  if (b.txs.size() > p.max_block_txs)
    return reject(RejectCode::kTooManyTxs, std::to_string(b.txs.size()) + " transactions");
  if (ids.size() != b.txs.size()) return reject(RejectCode::kBadMerkleRoot, "transaction ids do not match the block");
  if (b.encoded_size() > p.max_block_bytes)
    return reject(RejectCode::kBlockTooLarge, std::to_string(b.encoded_size()) + " bytes");
  if (!root_matched && primitives::compute_merkle_root(ids) != b.header.merkle_root)
    return reject(RejectCode::kBadMerkleRoot);
  for (size_t i = 0; i < b.txs.size(); ++i) {
    if (auto r = check_tx_shape(p, b.txs[i]); !r)
      return reject(RejectCode::kBadTx, "tx " + ids[i].hex() + ": " + r.error().to_string());
    if (verified && verified(ids[i])) continue;
    if (auto r = check_tx_signature(b.txs[i]); !r)
      return reject(RejectCode::kBadTx, "tx " + ids[i].hex() + ": " + r.error().to_string());
  }
  return {};
}

Checked<BlockEffect> apply_block(const Params& p, const Block& b, const AccountLookup& lookup) {
  BlockEffect eff;
  auto load = [&](const AccountKey& k) -> Account& {
    auto it = eff.after.find(k);
    if (it != eff.after.end()) return it->second;
    Account a = lookup(k);
    eff.before.emplace(k, a);
    return eff.after.emplace(k, a).first->second;
  };
  for (size_t i = 0; i < b.txs.size(); ++i) {
    const auto& tx = b.txs[i];
    Account& s = load(tx.sender);
    Account& r = load(tx.recipient);
    if (auto res = apply_tx(tx, s, r); !res)
      return reject(RejectCode::kBadTx, "tx " + std::to_string(i) + ": " + res.error().to_string());
    eff.fees += tx.fee;
    if (!money_range(eff.fees)) return reject(RejectCode::kBadFee, "block fees out of range");
  }
  eff.reward = block_subsidy(p, b.header.height) + eff.fees;
  Account& m = load(b.header.miner);
  if (!money_range(eff.reward) || m.balance + eff.reward > primitives::kMaxMoney)
    return reject(RejectCode::kBalanceOverflow, "miner balance out of range");
  m.balance += eff.reward;
  return eff;
}

bool better_chain(const Uint256& work_a, uint64_t seq_a, const Uint256& work_b, uint64_t seq_b) {
  if (work_a != work_b) return work_a > work_b;
  return seq_a < seq_b;
}

}  // namespace peerchain::consensus
