#include "chain/account_cache.h"

#include <gtest/gtest.h>

namespace peerchain::chain {
namespace {

primitives::AccountKey key(uint8_t i) {
  primitives::AccountKey k;
  k.data[0] = i;
  k.data[31] = static_cast<uint8_t>(i * 7);
  return k;
}

TEST(AccountCache, MissThenHitAndOverwrite) {
  AccountCache c(8, 42);
  EXPECT_FALSE(c.get(key(1)));
  c.put(key(1), {100, 2});
  ASSERT_TRUE(c.get(key(1)));
  EXPECT_EQ(*c.get(key(1)), (primitives::Account{100, 2}));
  c.put(key(1), {40, 3});
  EXPECT_EQ(*c.get(key(1)), (primitives::Account{40, 3}));
  c.put(key(2), {});  // an absent account is cached as empty
  ASSERT_TRUE(c.get(key(2)));
  EXPECT_TRUE(c.get(key(2))->is_empty());
  EXPECT_EQ(c.misses(), 1u);
  EXPECT_EQ(c.hits(), 5u);
  c.clear();
  EXPECT_EQ(c.size(), 0u);
  EXPECT_FALSE(c.get(key(1)));
}

TEST(AccountCache, BoundedAndKeepsWhatIsUsed) {
  AccountCache c(8, 7);  // two generations of 4
  c.put(key(0), {1, 0});
  for (uint8_t i = 1; i < 40; ++i) {
    c.put(key(i), {i, 0});
    EXPECT_LE(c.size(), 8u);
    // key(0) is read after every insert: it stays however many others pass through.
    ASSERT_TRUE(c.get(key(0))) << i;
  }
  EXPECT_FALSE(c.get(key(1)));  // long gone
  EXPECT_TRUE(c.get(key(39)));
  // After a move between generations an entry is found once, not twice.
  size_t found = 0;
  for (uint8_t i = 0; i < 40; ++i) found += c.get(key(i)).has_value();
  EXPECT_LE(found, 8u);
}

TEST(AccountCache, ZeroEntriesCachesNothing) {
  AccountCache c(0, 1);
  c.put(key(1), {5, 5});
  EXPECT_FALSE(c.get(key(1)));
  EXPECT_EQ(c.size(), 0u);
}

}  // namespace
}  // namespace peerchain::chain
