#include "chain/sig_cache.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>
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

// A grow's rehash holds only a shared lock: a lookup (a block's checks) and an insert made from
// another thread while it runs both return at once, and what was inserted meanwhile is found
// during the grow and kept after it. With the rehash under the exclusive lock (as before) the
// other thread waits for the whole rehash: here, forever, and the test fails at its deadline.
TEST(SigCache, LookupsAndInsertsDoNotWaitForAGrow) {
  SigCache cache(1 << 20);
  for (uint64_t i = 0; i < 400; ++i) cache.insert(id_of(i));
  const size_t slots = cache.slots();
  int grows = 0;
  bool others_waited = false;
  cache.set_rehash_hook([&] {
    ++grows;
    auto answered = std::make_shared<std::promise<bool>>();
    auto f = answered->get_future();
    std::thread other([&cache, answered, grows] {
      const bool old_found = cache.contains(id_of(1));
      cache.insert(id_of(1'000'000 + grows));
      answered->set_value(old_found && cache.contains(id_of(1'000'000 + grows)));
    });
    if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) others_waited = true;
    else EXPECT_TRUE(f.get());
    // Released after the hook returns if it was stuck: joined below only when it finished.
    if (others_waited) other.detach();
    else other.join();
  });
  for (uint64_t i = 400; i < 5000 && !others_waited; ++i) cache.insert(id_of(i));
  ASSERT_FALSE(others_waited) << "a lookup or an insert waited for the rehash";
  ASSERT_GT(grows, 0);
  EXPECT_GT(cache.slots(), slots);
  cache.set_rehash_hook(nullptr);
  for (int g = 1; g <= grows; ++g) EXPECT_TRUE(cache.contains(id_of(1'000'000 + g))) << g;
  for (uint64_t i = 0; i < 5000; ++i) ASSERT_TRUE(cache.contains(id_of(i))) << i;
  EXPECT_EQ(cache.size(), 5000u + grows);
}

}  // namespace
}  // namespace peerchain::chain
