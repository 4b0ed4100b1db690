// Signature checks on the kept worker pool: what verifies is cached, what does not is left out,
// whatever the batch size and however many callers share the pool at once.
#include "chain/parallel_verify.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "consensus/params.h"

namespace peerchain::chain {
namespace {

struct Batch {
  std::vector<primitives::Transaction> txs;
  std::vector<primitives::TxId> ids;
  std::vector<bool> good;
};

Batch make_batch(size_t n, uint32_t salt) {
  Batch b;
  auto from = consensus::dev_account_key(salt % 100);
  auto to = consensus::dev_account_key((salt + 1) % 100).pubkey();
  for (size_t i = 0; i < n; ++i) {
    auto tx = primitives::make_transfer(2, from, to, 1 + i, 1, salt * 100'000ULL + i);
    bool good = i % 7 != 3;
    if (!good) tx.signature.data[5] ^= 0x40;  // forged: must not enter the cache
    b.txs.push_back(tx);
    b.ids.push_back(tx.id());
    b.good.push_back(good);
  }
  return b;
}

void expect_cached_iff_good(const Batch& b, const SigCache& cache) {
  for (size_t i = 0; i < b.txs.size(); ++i) EXPECT_EQ(cache.contains(b.ids[i]), b.good[i]) << "tx " << i;
}

TEST(ParallelVerify, CachesExactlyTheValidOnesForEveryBatchSize) {
  for (size_t n : {0u, 1u, 2u, 5u, 10u, 33u, 200u}) {
    SigCache cache(1 << 16);
    auto b = make_batch(n, static_cast<uint32_t>(n));
    verify_signatures(b.txs, b.ids, cache);
    expect_cached_iff_good(b, cache);
  }
}

TEST(ParallelVerify, ConcurrentCallersShareThePoolSafely) {
  SigCache cache(1 << 16);
  std::vector<Batch> batches;
  for (uint32_t t = 0; t < 4; ++t) batches.push_back(make_batch(60, 10 + t));
  std::vector<std::thread> callers;
  for (auto& b : batches) callers.emplace_back([&b, &cache] { verify_signatures(b.txs, b.ids, cache); });
  for (auto& c : callers) c.join();
  for (const auto& b : batches) expect_cached_iff_good(b, cache);
}

}  // namespace
}  // namespace peerchain::chain
