#include "util/tagged_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace peerchain::util {
namespace {

using Key = FixedBytes<32>;

Key key_of(uint32_t n) {
  Key k;
  for (size_t i = 0; i < 8; ++i) k.data[i * 4] = static_cast<uint8_t>(n >> (i % 4 * 8));
  k.data[31] = static_cast<uint8_t>(n);
  return k;
}

// Random inserts and erasures, including several values under one key, checked against a plain
// multimap after each step. A small table wraps its probe runs round the end often, the case a
// wrong backward shift breaks.
TEST(TaggedTable, FindsEveryEntryThroughGrowthShrinkAndErasure) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    std::mt19937_64 rng{seed};
    TaggedTable<uint32_t> table{rng(), 8};
    std::multimap<uint32_t, uint32_t> model;  // key number -> value
    uint32_t next_value = 0;
    const auto check = [&](int step) {
      ASSERT_EQ(table.size(), model.size()) << "step " << step;
      ASSERT_LE(table.size() * 2, table.slots()) << "step " << step;
      for (const auto& [k, v] : model) {
        const uint32_t want = v;
        const uint32_t* got = table.find(key_of(k), [&](uint32_t x) { return x == want; });
        ASSERT_NE(got, nullptr) << "step " << step << " key " << k << " value " << v;
        ASSERT_EQ(*got, v);
      }
      for (uint32_t k = 0; k < 64; ++k) {
        if (model.count(k) == 0) {
          ASSERT_EQ(table.find(key_of(k), [](uint32_t) { return true; }), nullptr) << "key " << k;
        }
      }
    };
    for (int step = 0; step < 6000; ++step) {
      const bool grow = (step / 1500) % 2 == 0;  // fill, drain, fill, drain
      const uint64_t r = rng();
      if (model.empty() || (grow ? r % 4 != 0 : r % 4 == 0)) {
        const uint32_t k = static_cast<uint32_t>(rng() % (grow ? 1000 : 64));
        table.insert(key_of(k), next_value);
        model.emplace(k, next_value++);
      } else {
        auto it = model.begin();
        std::advance(it, static_cast<long>(rng() % model.size()));
        const uint32_t v = it->second;
        table.erase(key_of(it->first), [v](uint32_t x) { return x == v; });
        model.erase(it);
      }
      if (step % 37 == 0 || model.size() < 40) check(step);
    }
    check(-1);
    while (!model.empty()) {
      const auto it = model.begin();
      const uint32_t v = it->second;
      table.erase(key_of(it->first), [v](uint32_t x) { return x == v; });
      model.erase(it);
    }
    EXPECT_EQ(table.size(), 0u);
    EXPECT_EQ(table.slots(), 8u);  // shrunk back to its smallest size
  }
}

TEST(TaggedTable, ClearKeepsTheSizeAndReserveGrowsOnce) {
  TaggedTable<uint32_t> table{42, 16};
  table.reserve(1000);
  EXPECT_EQ(table.slots(), 2048u);
  for (uint32_t i = 0; i < 1000; ++i) table.insert(key_of(i), i);
  EXPECT_EQ(table.slots(), 2048u);
  table.clear();
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.slots(), 2048u);
  EXPECT_EQ(table.find(key_of(5), [](uint32_t) { return true; }), nullptr);
  table.insert(key_of(5), 7);
  ASSERT_NE(table.find(key_of(5), [](uint32_t) { return true; }), nullptr);
}

}  // namespace
}  // namespace peerchain::util
