#include "chain/mempool.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "consensus/params.h"

using namespace peerchain;
using namespace peerchain::chain;
using consensus::dev_account_key;
using consensus::RejectCode;

namespace {

struct Fixture {
  std::map<AccountKey, Account> state;
  Mempool::AccountLookup lookup() {
    return [this](const AccountKey& k) { return state.count(k) ? state[k] : Account{}; };
  }
};

Transaction tx(uint32_t from, uint64_t nonce, Amount fee = 1, Amount amount = 100) {
  return primitives::make_transfer(2, dev_account_key(from), dev_account_key(from + 100).pubkey(), amount, fee, nonce);
}
AccountKey key(uint32_t i) { return dev_account_key(i).pubkey(); }

}  // namespace

TEST(Mempool, NonceOrderAndGapsRefused) {
  Fixture f;
  f.state[key(1)] = Account{10'000, 5};
  Mempool m;
  EXPECT_EQ(m.add(tx(1, 4), tx(1, 4).id(), f.lookup()).error().code, RejectCode::kNonceTooLow);
  EXPECT_EQ(m.add(tx(1, 6), tx(1, 6).id(), f.lookup()).error().code, RejectCode::kNonceTooHigh);
  ASSERT_TRUE(m.add(tx(1, 5), tx(1, 5).id(), f.lookup()).ok());
  ASSERT_TRUE(m.add(tx(1, 6), tx(1, 6).id(), f.lookup()).ok());
  EXPECT_EQ(m.add(tx(1, 6), tx(1, 6).id(), f.lookup()).error().code, RejectCode::kDuplicate);
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m.pending(key(1)), (std::pair<size_t, Amount>{2, 202}));
}

TEST(Mempool, PendingSpendsCountAgainstBalance) {
  Fixture f;
  f.state[key(1)] = Account{250, 0};
  Mempool m;
  ASSERT_TRUE(m.add(tx(1, 0), tx(1, 0).id(), f.lookup()).ok());
  ASSERT_TRUE(m.add(tx(1, 1), tx(1, 1).id(), f.lookup()).ok());
  EXPECT_EQ(m.add(tx(1, 2), tx(1, 2).id(), f.lookup()).error().code, RejectCode::kInsufficientFunds);
}

TEST(Mempool, ReplacementNeedsFeeBumpAndDropsWhatNoLongerFits) {
  Fixture f;
  f.state[key(1)] = Account{400, 0};
  Mempool m;
  ASSERT_TRUE(m.add(tx(1, 0, 100), tx(1, 0, 100).id(), f.lookup()).ok());
  ASSERT_TRUE(m.add(tx(1, 1, 1), tx(1, 1, 1).id(), f.lookup()).ok());  // 200 + 101 = 301 <= 400
  EXPECT_EQ(m.add(tx(1, 0, 105), tx(1, 0, 105).id(), f.lookup()).error().code, RejectCode::kReplacementFeeTooLow);
  // Pays 110 (>= 100 + 10%) with a bigger amount: 110 + 190 = 300, then nonce 1 (101) no longer fits.
  auto repl = tx(1, 0, 110, 190);
  auto r = m.add(repl, repl.id(), f.lookup());
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 2u);  // the replaced one and the dropped follower, with their journal names
  EXPECT_TRUE((*r)[0].id == tx(1, 0, 100).id() && (*r)[0].sender == key(1) && (*r)[0].nonce == 0);
  EXPECT_TRUE((*r)[1].id == tx(1, 1, 1).id() && (*r)[1].sender == key(1) && (*r)[1].nonce == 1);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_TRUE(m.contains(repl.id()));
}

TEST(Mempool, SelectsByFeeKeepingNonceOrder) {
  Fixture f;
  for (uint32_t i = 1; i <= 3; ++i) f.state[key(i)] = Account{1'000'000, 0};
  Mempool m;
  // Sender 1: fees 1 then 50. Sender 2: fee 10. Sender 3: fee 5.
  for (auto t : {tx(1, 0, 1), tx(1, 1, 50), tx(2, 0, 10), tx(3, 0, 5)}) ASSERT_TRUE(m.add(t, t.id(), f.lookup()).ok());
  auto sel = m.select(10);
  ASSERT_EQ(sel.size(), 4u);
  EXPECT_EQ(sel[0]->tx.fee, 10u);
  EXPECT_EQ(sel[1]->tx.fee, 5u);
  EXPECT_EQ(sel[2]->tx.fee, 1u);   // sender 1's nonce 0 must precede its nonce 1
  EXPECT_EQ(sel[3]->tx.fee, 50u);
  EXPECT_EQ(m.select(2).size(), 2u);
}

TEST(Mempool, EvictsCheapestTailWhenFull) {
  Fixture f;
  for (uint32_t i = 1; i <= 4; ++i) f.state[key(i)] = Account{1'000'000, 0};
  MempoolOptions opts;
  opts.max_count = 3;
  Mempool m(opts);
  for (auto t : {tx(1, 0, 5), tx(2, 0, 2), tx(3, 0, 7)}) ASSERT_TRUE(m.add(t, t.id(), f.lookup()).ok());
  EXPECT_EQ(m.add(tx(4, 0, 1), tx(4, 0, 1).id(), f.lookup()).error().code, RejectCode::kMempoolFull);
  auto r = m.add(tx(4, 0, 3), tx(4, 0, 3).id(), f.lookup());
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_TRUE((*r)[0].id == tx(2, 0, 2).id() && (*r)[0].sender == key(2) && (*r)[0].nonce == 0);
  EXPECT_EQ(m.size(), 3u);
}

TEST(Mempool, PerSenderLimit) {
  Fixture f;
  f.state[key(1)] = Account{1'000'000, 0};
  MempoolOptions opts;
  opts.max_per_sender = 2;
  Mempool m(opts);
  ASSERT_TRUE(m.add(tx(1, 0), tx(1, 0).id(), f.lookup()).ok());
  ASSERT_TRUE(m.add(tx(1, 1), tx(1, 1).id(), f.lookup()).ok());
  EXPECT_EQ(m.add(tx(1, 2), tx(1, 2).id(), f.lookup()).error().code, RejectCode::kTooManyPending);
}

TEST(Mempool, UpdateAccountsAfterBlockAndReorg) {
  Fixture f;
  f.state[key(1)] = Account{1'000'000, 0};
  Mempool m;
  for (uint64_t n = 0; n < 3; ++n) ASSERT_TRUE(m.add(tx(1, n), tx(1, n).id(), f.lookup()).ok());
  // A block confirmed nonces 0 and 1.
  f.state[key(1)] = Account{1'000'000 - 202, 2};
  auto dropped = m.update_accounts({key(1)}, {}, f.lookup());
  EXPECT_EQ(dropped.size(), 2u);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_TRUE(m.contains(tx(1, 2).id()));
  // That block was disconnected: nonces 0 and 1 come back, ahead of 2.
  f.state[key(1)] = Account{1'000'000, 0};
  m.update_accounts({key(1)}, {tx(1, 0), tx(1, 1)}, f.lookup());
  EXPECT_EQ(m.size(), 3u);
  auto sel = m.select(10);
  for (size_t i = 0; i < sel.size(); ++i) EXPECT_EQ(sel[i]->tx.nonce, i);
}

TEST(Mempool, VisitsEveryPooledTransactionWithItsShortId) {
  // Compact blocks: the caller's short id (here the txid's first byte), computed once for each
  // pooled transaction and handed over with it; the caller keeps what it wants.
  Fixture f;
  f.state[key(1)] = Account{10'000, 0};
  f.state[key(2)] = Account{10'000, 0};
  Mempool m;
  std::vector<Transaction> txs{tx(1, 0), tx(1, 1), tx(2, 0), tx(2, 1), tx(2, 2)};
  for (const auto& t : txs) ASSERT_TRUE(m.add(t, t.id(), f.lookup()).ok());
  size_t computed = 0;
  auto sid = [&computed](const TxId& id) {
    ++computed;
    return uint64_t{id[0]};
  };
  std::multiset<TxId> seen;
  m.visit_short_ids(sid, [&](const MempoolEntry& e, uint64_t s) {
    EXPECT_EQ(e.tx.id(), e.id);
    EXPECT_EQ(s, uint64_t{e.id[0]});
    seen.insert(e.id);
  });
  EXPECT_EQ(computed, txs.size());
  ASSERT_EQ(seen.size(), txs.size());
  for (const auto& t : txs) EXPECT_EQ(seen.count(t.id()), 1u);
}

// After a block, update_accounts keeps exactly what re-admitting every pooled transaction of the
// touched senders against their new state would keep, whatever the block did: confirmed a
// prefix of a queue, confirmed a conflicting transaction, moved a balance up or down. (Its fast
// path trims the confirmed front and keeps the rest in place when it still fits.)
TEST(Mempool, UpdateAccountsKeepsWhatReadmissionWouldKeep) {
  std::mt19937_64 rng(7);
  auto pick = [&rng](uint64_t n) { return static_cast<uint64_t>(rng() % n); };
  for (int round = 0; round < 300; ++round) {
    Fixture f;
    Mempool m;
    constexpr uint32_t kSenders = 6;
    std::map<AccountKey, std::vector<Transaction>> pooled;
    for (uint32_t s = 1; s <= kSenders; ++s) {
      const uint64_t first = pick(3);
      f.state[key(s)] = Account{static_cast<Amount>(500 + pick(2000)), first};
      const uint64_t n = pick(8);
      for (uint64_t k = 0; k < n; ++k) {
        auto t = tx(s, first + k, 1 + pick(3), 50 + pick(150));
        if (m.add(t, t.id(), f.lookup()).ok()) pooled[key(s)].push_back(t);
      }
    }
    // The block: per sender, one of the things a block can do to its account.
    std::set<AccountKey> touched;
    for (uint32_t s = 1; s <= kSenders; ++s) {
      auto& acc = f.state[key(s)];
      const auto& q = pooled[key(s)];
      switch (pick(5)) {
        case 0: break;  // untouched
        case 1: {       // confirmed a prefix of its queue
          const uint64_t k = q.empty() ? 0 : pick(q.size() + 1);
          for (uint64_t i = 0; i < k; ++i) acc.balance -= q[i].amount + q[i].fee;
          acc.nonce += k;
          touched.insert(key(s));
          break;
        }
        case 2: {  // confirmed a conflicting transaction at its next nonce
          const Amount spent = std::min<Amount>(acc.balance, 50 + pick(600));
          acc.balance -= spent;
          acc.nonce += 1;
          touched.insert(key(s));
          break;
        }
        case 3:  // received funds
          acc.balance += pick(500);
          touched.insert(key(s));
          break;
        default:  // touched, state unchanged
          touched.insert(key(s));
          break;
      }
    }
    std::set<TxId> before;
    for (const auto& [k, q] : pooled)
      for (const auto& t : q) before.insert(t.id());
    auto dropped = m.update_accounts(touched, {}, f.lookup());

    // The reference: every pooled transaction re-admitted, in nonce order, to an empty pool.
    Mempool ref;
    for (const auto& [k, q] : pooled)
      for (const auto& t : q) (void)ref.add(t, t.id(), f.lookup());
    std::set<TxId> want_dropped;
    for (const auto& id : before) {
      const bool untouched_sender = [&] {
        for (const auto& [k, q] : pooled)
          for (const auto& t : q)
            if (t.id() == id) return !touched.count(k);
        return false;
      }();
      if (untouched_sender) {
        ASSERT_TRUE(m.contains(id)) << "round " << round;  // senders not touched keep everything
      } else {
        ASSERT_EQ(m.contains(id), ref.contains(id)) << "round " << round;
        if (!ref.contains(id)) want_dropped.insert(id);
      }
    }
    std::set<TxId> dropped_ids;
    for (const auto& d : dropped) {
      dropped_ids.insert(d.id);
      // Each removal names its journal record: the sender and nonce of the transaction.
      bool named = false;
      for (const auto& [k, q] : pooled)
        for (const auto& t : q)
          if (t.id() == d.id) named = d.sender == t.sender && d.nonce == t.nonce;
      EXPECT_TRUE(named) << "round " << round;
    }
    EXPECT_EQ(dropped_ids, want_dropped) << "round " << round;
    EXPECT_EQ(dropped.size(), want_dropped.size()) << "round " << round;  // each id once
    // The invariant: every sender's queue starts at its nonce and fits its balance.
    for (uint32_t s = 1; s <= kSenders; ++s) {
      auto [n, cost] = m.pending(key(s));
      EXPECT_LE(cost, f.state[key(s)].balance) << "round " << round;
      auto sel = m.select(1000);
      uint64_t expect = f.state[key(s)].nonce;
      for (const auto* e : sel) {
        if (e->tx.sender == key(s)) {
          EXPECT_EQ(e->tx.nonce, expect++) << "round " << round;
        }
      }
      EXPECT_EQ(expect - f.state[key(s)].nonce, n);
    }
  }
}

// The pool's id table (open addressing, erased by backward shift, grown and shrunk with the
// pool) against a plain map, through every way an entry comes and goes: admission, replacement,
// removal, a block's update, eviction. The pool fills to thousands of entries, so the table
// grows past its first size, then blocks drain it, so it shrinks back; every pooled id must be
// found at its entry, and no gone one. (The pool takes checked transactions on trust: these
// are unsigned, their ids distinct by sender, nonce and fee.)
TEST(Mempool, FindsEveryPooledIdThroughGrowthShrinkAndEveryRemoval) {
  std::mt19937_64 rng(11);
  auto pick = [&rng](uint64_t n) { return static_cast<uint64_t>(rng() % n); };
  Fixture f;
  constexpr uint32_t kSenders = 60;
  std::vector<AccountKey> keys;
  for (uint32_t s = 0; s < kSenders; ++s) {
    keys.push_back(key(s));
    f.state[keys.back()] = Account{1'000'000'000, 0};
  }
  auto unsigned_tx = [&](const AccountKey& sender, uint64_t nonce, Amount fee) {
    Transaction t;
    t.chain_id = 2;
    t.sender = sender;
    t.recipient = keys[0];
    t.amount = 1;
    t.fee = fee;
    t.nonce = nonce;
    return t;
  };
  MempoolOptions opts;
  opts.max_count = 3000;  // full now and then: evictions too
  Mempool m(opts);
  std::map<TxId, std::pair<AccountKey, uint64_t>> model;
  std::vector<TxId> gone;
  auto forget = [&](const std::vector<Removed>& removed) {
    for (const auto& r : removed) {
      ASSERT_EQ(model.count(r.id), 1u);
      EXPECT_EQ(model[r.id], std::make_pair(r.sender, r.nonce));
      model.erase(r.id);
      gone.push_back(r.id);
    }
  };
  auto random_pooled = [&]() -> std::optional<TxId> {
    if (model.empty()) return std::nullopt;
    auto it = model.begin();
    std::advance(it, static_cast<long>(pick(std::min<size_t>(model.size(), 64))));
    return it->first;
  };
  size_t largest = 0;
  constexpr int kSteps = 40'000, kDrainFrom = 30'000;  // then no more admissions
  for (int step = 0; step < kSteps; ++step) {
    const uint64_t op = pick(100);
    const AccountKey& who = keys[pick(kSenders)];
    if (step < kDrainFrom && (op < 70 || step < 4000)) {  // admission, the pool growing first
      const uint64_t nonce = f.state[who].nonce + m.pending(who).first;
      auto t = unsigned_tx(who, nonce, 1 + pick(5));
      auto r = m.add(t, t.id(), f.lookup());
      if (r) {
        forget(*r);
        model[t.id()] = {who, nonce};
      }
    } else if (op < 80) {  // replacement
      auto id = random_pooled();
      if (!id) continue;
      auto [sender, nonce] = model[*id];
      const Amount fee = m.get(*id)->tx.fee;
      if (fee > 1'000'000) continue;  // replaced often enough: within the balance
      auto t = unsigned_tx(sender, nonce, fee + fee / 5 + 1);
      auto r = m.add(t, t.id(), f.lookup());
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      forget(*r);
      model[t.id()] = {sender, nonce};
    } else if (op < 88) {  // removal of a transaction and its sender's later ones
      auto id = random_pooled();
      if (!id) continue;
      forget(m.remove(*id));
    } else {  // a block confirming a prefix of a few senders' queues
      std::set<AccountKey> touched;
      for (int k = 0; k < 5; ++k) {
        const AccountKey& in_block = keys[pick(kSenders)];
        f.state[in_block].nonce += pick(m.pending(in_block).first + 1);
        touched.insert(in_block);
      }
      forget(m.update_accounts(touched, {}, f.lookup()));
    }
    largest = std::max(largest, m.size());
    if (step % 97 == 0 || step == kSteps - 1) {
      ASSERT_EQ(m.size(), model.size()) << "step " << step;
      for (const auto& [id, at] : model) {
        const auto* e = m.get(id);
        ASSERT_NE(e, nullptr) << "step " << step;
        ASSERT_EQ(e->id, id);
        ASSERT_EQ(std::make_pair(e->tx.sender, e->tx.nonce), at);
      }
      for (size_t i = gone.size() > 200 ? gone.size() - 200 : 0; i < gone.size(); ++i)
        if (!model.count(gone[i])) {
          ASSERT_FALSE(m.contains(gone[i])) << "step " << step;
        }
    }
  }
  EXPECT_EQ(largest, opts.max_count);  // full: the table grew well past its first 1,024 slots
  EXPECT_LT(m.size(), 100u);           // drained: it shrank back
  EXPECT_GT(gone.size(), 10'000u);
}
