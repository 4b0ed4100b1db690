#include "chain/sig_cache.h"

#include <gtest/gtest.h>

#include <thread>

#include "crypto/sha256.h"

namespace peerchain::chain {
namespace {

primitives::TxId id_of(uint64_t i) {
  util::Writer w;
  w.u64(i);
  return crypto::sha256(w.data());
}

// Below its bound the cache grows instead of evicting, so with a bound far above what is inserted
// nothing is ever lost.
TEST(SigCache, RemembersWhatWasInsertedAndNothingElse) {
  SigCache cache(1 << 20);
  for (uint64_t i = 0; i < 1000; ++i) cache.insert(id_of(i));
  for (uint64_t i = 0; i < 1000; ++i) EXPECT_TRUE(cache.contains(id_of(i))) << i;
  for (uint64_t i = 1000; i < 2000; ++i) EXPECT_FALSE(cache.contains(id_of(i))) << i;
  EXPECT_EQ(cache.size(), 1000u);
  cache.insert(id_of(7));  // again: no second entry
  EXPECT_EQ(cache.size(), 1000u);
}

TEST(SigCache, GrowsWithUseUpToItsBound) {
  SigCache cache(1 << 20);
  EXPECT_LE(cache.slots(), 1024u);  // memory follows use
  for (uint64_t i = 0; i < 5000; ++i) cache.insert(id_of(i));
  EXPECT_GE(cache.slots(), 8192u);      // at most half full
  EXPECT_LE(cache.slots(), 1u << 17);   // and not far beyond what it holds
  EXPECT_EQ(cache.size(), 5000u);
  for (uint64_t i = 0; i < 5000; ++i) ASSERT_TRUE(cache.contains(id_of(i))) << i;  // growth kept all
}

TEST(SigCache, StaysWithinItsBoundAndKeepsMostOfWhatFits) {
  SigCache cache(4096);
  for (uint64_t i = 0; i < 100000; ++i) cache.insert(id_of(i));
  EXPECT_LE(cache.size(), 4096u);
  EXPECT_EQ(cache.slots(), 4096u);
  EXPECT_GT(cache.size(), 4096u * 9 / 10);  // evictions fill windows, they do not empty them
  size_t recent = 0;
  for (uint64_t i = 99000; i < 100000; ++i) recent += cache.contains(id_of(i));
  EXPECT_GT(recent, 700u);  // the newest entries mostly survive
}

TEST(SigCache, NeverCachesTheAllZeroIdThatMarksAnEmptySlot) {
  SigCache cache(64);
  cache.insert(primitives::TxId{});
  EXPECT_FALSE(cache.contains(primitives::TxId{}));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(SigCache, ConcurrentInsertsAndLookupsAgree) {
  SigCache cache(1 << 20);
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 4; ++t)
    threads.emplace_back([&cache, t] {
      for (uint64_t i = t * 2000; i < (t + 1) * 2000; ++i) {
        cache.insert(id_of(i));
        EXPECT_TRUE(cache.contains(id_of(i)));
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(cache.size(), 8000u);
}

}  // namespace
}  // namespace peerchain::chain
