#include <gtest/gtest.h>

#include "consensus/checks.h"
#include "consensus/pow.h"

using namespace peerchain;
using namespace peerchain::consensus;
using primitives::make_transfer;

namespace {

const Params& dev() {
  static const Params p = dev_params();
  return p;
}

Transaction transfer(uint32_t from, uint32_t to, uint64_t nonce, primitives::Amount amount = 500) {
  return make_transfer(dev().chain_id, dev_account_key(from), dev_account_key(to).pubkey(), amount, 1, nonce);
}

// A block on genesis carrying `txs`, with a valid proof of work.
Block mined_block(std::vector<Transaction> txs) {
  Block b;
  b.header.version = 1;
  b.header.height = 1;
  b.header.prev_id = dev().genesis_id;
  b.header.time_ms = dev().genesis.header.time_ms + 1000;
  b.header.bits = dev().genesis.header.bits;
  b.header.miner = dev_account_key(0).pubkey();
  b.txs = std::move(txs);
  b.header.merkle_root = primitives::compute_merkle_root(b.txs);
  auto target = *decode_compact(b.header.bits);
  for (;;) {
    if (meets_target(b.header.id(), target)) return b;
    b.header.nonce++;
  }
}

ParentContext genesis_ctx() {
  ParentContext ctx;
  ctx.parent = dev().genesis.header;
  ctx.median_time_past_ms = dev().genesis.header.time_ms;
  return ctx;
}

}  // namespace

TEST(TxShape, Reasons) {
  auto ok = transfer(1, 2, 0);
  EXPECT_TRUE(check_tx_shape(dev(), ok).ok());
  auto t = ok;
  t.chain_id = 1;
  EXPECT_EQ(check_tx_shape(dev(), t).error().code, RejectCode::kWrongChain);
  t = ok;
  t.amount = 0;
  EXPECT_EQ(check_tx_shape(dev(), t).error().code, RejectCode::kBadAmount);
  t = ok;
  t.amount = primitives::kMaxMoney + 1;
  EXPECT_EQ(check_tx_shape(dev(), t).error().code, RejectCode::kBadAmount);
  t = ok;
  t.amount = primitives::kMaxMoney;
  t.fee = 1;
  EXPECT_EQ(check_tx_shape(dev(), t).error().code, RejectCode::kBadAmount);
  t = ok;
  t.fee = primitives::kMaxMoney + 1;
  EXPECT_EQ(check_tx_shape(dev(), t).error().code, RejectCode::kBadFee);
  t = ok;
  t.recipient = t.sender;
  EXPECT_EQ(check_tx_shape(dev(), t).error().code, RejectCode::kSelfTransfer);
}

TEST(TxSignature, ForgedRefused) {
  auto t = transfer(1, 2, 0);
  EXPECT_TRUE(check_tx_signature(t).ok());
  t.amount = 501;  // signed for 500
  EXPECT_EQ(check_tx_signature(t).error().code, RejectCode::kBadSignature);
  auto u = transfer(1, 2, 0);
  u.sender = dev_account_key(3).pubkey();  // someone else's account
  EXPECT_EQ(check_tx_signature(u).error().code, RejectCode::kBadSignature);
}

TEST(ApplyTx, NonceAndFunds) {
  Account s{1000, 0}, r{0, 0};
  auto t = transfer(1, 2, 0, 500);
  ASSERT_TRUE(apply_tx(t, s, r).ok());
  EXPECT_EQ(s, (Account{499, 1}));
  EXPECT_EQ(r, (Account{500, 0}));
  EXPECT_EQ(apply_tx(t, s, r).error().code, RejectCode::kNonceTooLow);
  EXPECT_EQ(apply_tx(transfer(1, 2, 5), s, r).error().code, RejectCode::kNonceTooHigh);
  auto big = transfer(1, 2, 1, 499);  // 499 + fee 1 = 500 > 499
  EXPECT_EQ(apply_tx(big, s, r).error().code, RejectCode::kInsufficientFunds);
  EXPECT_EQ(s, (Account{499, 1}));  // untouched on failure
}

TEST(CheckBlock, AcceptsValidAndNamesEachFault) {
  auto b = mined_block({transfer(1, 2, 0), transfer(3, 4, 0)});
  std::vector<TxId> ids;
  ASSERT_TRUE(check_block(dev(), b, ids).ok());
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_TRUE(check_header_contextual(dev(), b.header, genesis_ctx(), static_cast<int64_t>(b.header.time_ms)).ok());

  auto bad_merkle = b;
  bad_merkle.txs.pop_back();
  EXPECT_NE(check_block(dev(), bad_merkle, ids).error().code, RejectCode::kBadTx);

  auto forged = b;
  forged.txs[0].amount = 400;  // signature no longer matches
  forged.header.merkle_root = primitives::compute_merkle_root(forged.txs);
  forged = mined_block(forged.txs);
  EXPECT_EQ(check_block(dev(), forged, ids).error().code, RejectCode::kBadTx);
  // ...unless the signature cache vouches for it (the cache is trusted by design).
  EXPECT_TRUE(check_block(dev(), forged, ids, [](const TxId&) { return true; }).ok());

  auto bad_pow = b;
  bad_pow.header.bits = 0x1d00ffff;  // far harder than the hash meets
  auto r = check_block(dev(), bad_pow, ids);
  EXPECT_TRUE(r.error().code == RejectCode::kBadPow);

  auto easy = b;
  easy.header.bits = 0x2100ffff;  // above pow_limit
  EXPECT_EQ(check_block(dev(), easy, ids).error().code, RejectCode::kBadTarget);

  auto version = b;
  version.header.version = 2;
  EXPECT_EQ(check_block(dev(), version, ids).error().code, RejectCode::kBadVersion);
}

TEST(CheckBlock, CountAndSizeLimits) {
  Params p = dev();
  p.max_block_txs = 1;
  auto b = mined_block({transfer(1, 2, 0), transfer(3, 4, 0)});
  std::vector<TxId> ids;
  EXPECT_EQ(check_block(p, b, ids).error().code, RejectCode::kTooManyTxs);
  p = dev();
  p.max_block_bytes = 300;
  EXPECT_EQ(check_block(p, b, ids).error().code, RejectCode::kBlockTooLarge);
}

TEST(HeaderContext, Reasons) {
  auto b = mined_block({});
  auto ctx = genesis_ctx();
  int64_t now = static_cast<int64_t>(b.header.time_ms);
  auto h = b.header;
  h.height = 2;
  EXPECT_EQ(check_header_contextual(dev(), h, ctx, now).error().code, RejectCode::kBadHeight);
  h = b.header;
  h.bits = 0x1f00a7c4;
  EXPECT_EQ(check_header_contextual(dev(), h, ctx, now).error().code, RejectCode::kBadTarget);
  h = b.header;
  h.time_ms = ctx.median_time_past_ms;
  EXPECT_EQ(check_header_contextual(dev(), h, ctx, now).error().code, RejectCode::kTimeTooOld);
  h = b.header;
  EXPECT_EQ(check_header_contextual(dev(), h, ctx, now - dev().max_future_block_ms - 1).error().code,
            RejectCode::kTimeTooNew);
  h = b.header;
  h.prev_id[0] ^= 1;
  EXPECT_EQ(check_header_contextual(dev(), h, ctx, now).error().code, RejectCode::kMissingParent);
}

TEST(ApplyBlock, PaysMinerAndConserves) {
  auto b = mined_block({transfer(1, 2, 0, 500), transfer(1, 3, 1, 700)});
  std::map<AccountKey, Account> state;
  for (const auto& a : dev().allocations) state[a.key] = Account{a.amount, 0};
  auto eff = apply_block(dev(), b, [&](const AccountKey& k) { return state.count(k) ? state[k] : Account{}; });
  ASSERT_TRUE(eff.ok());
  EXPECT_EQ(eff->fees, 2u);
  EXPECT_EQ(eff->reward, dev().initial_subsidy + 2);
  // Account 0 is both the miner and a funded account here.
  auto miner = dev_account_key(0).pubkey();
  EXPECT_EQ(eff->after[miner].balance, kDevAccountFunds + dev().initial_subsidy + 2);
  EXPECT_EQ(eff->after[dev_account_key(1).pubkey()], (Account{kDevAccountFunds - 1202, 2}));
  primitives::Amount before = 0, after = 0;
  for (auto& [k, a] : eff->before) before += a.balance;
  for (auto& [k, a] : eff->after) after += a.balance;
  EXPECT_EQ(after, before + dev().initial_subsidy);
}

TEST(ApplyBlock, OutOfOrderNonceInvalid) {
  auto b = mined_block({transfer(1, 2, 1), transfer(1, 2, 0)});
  auto eff = apply_block(dev(), b, [&](const AccountKey& k) {
    return k == dev_account_key(1).pubkey() ? Account{kDevAccountFunds, 0} : Account{};
  });
  ASSERT_FALSE(eff.ok());
  EXPECT_EQ(eff.error().code, RejectCode::kBadTx);
}

TEST(ForkChoice, MostWorkThenFirstSeen) {
  EXPECT_TRUE(better_chain(Uint256(10), 5, Uint256(9), 1));
  EXPECT_FALSE(better_chain(Uint256(9), 1, Uint256(10), 5));
  EXPECT_TRUE(better_chain(Uint256(10), 1, Uint256(10), 2));
  EXPECT_FALSE(better_chain(Uint256(10), 2, Uint256(10), 1));
}
