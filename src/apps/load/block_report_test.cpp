#include "apps/load/block_report.h"

#include <gtest/gtest.h>

namespace peerchain::apps::load {
namespace {

// Final chain 10 (start) -> a11 -> a12 -> a13 (tip at the final read).
const std::unordered_map<std::string, uint32_t> kFinal{{"a11", 11}, {"a12", 12}, {"a13", 13}};

TEST(BlockReport, BlocksFoundAfterTheFinalReadAreNotStale) {
  // The network kept mining while the report was made: a14 and b14 came after the final read.
  // Before the fix they counted as two "raced" stale blocks.
  std::vector<std::vector<BlockEvent>> ev(3);
  for (size_t i = 0; i < 3; ++i)
    ev[i] = {{"a11", 11, 1.0 + 0.01 * static_cast<double>(i)},
             {"a12", 12, 2.0 + 0.02 * static_cast<double>(i)},
             {"a13", 13, 3.0 + 0.03 * static_cast<double>(i)},
             {i == 2 ? "b14" : "a14", 14, 4.0}};
  auto r = analyse_blocks(ev, kFinal, 10, 13);
  EXPECT_EQ(r.stale, 0u);
  EXPECT_EQ(r.stale_raced, 0u);
  EXPECT_EQ(r.after_final_read, 2u);
  ASSERT_EQ(r.propagation_ms.size(), 6u);  // 3 blocks x 2 later nodes
  EXPECT_NEAR(r.propagation_ms.back(), 60, 1e-6);
  EXPECT_DOUBLE_EQ(r.held_at[1][12], 2.02);
}

TEST(BlockReport, StaleBlocksAreCountedByCause) {
  std::vector<std::vector<BlockEvent>> ev(3);
  // Node 0 mines a11, a12, a13.
  ev[0] = {{"a11", 11, 1.0}, {"a12", 12, 2.0}, {"a13", 13, 3.0}};
  // Node 1 finds s12 before anyone holds a12 (raced), later reorgs to a12, a13.
  ev[1] = {{"a11", 11, 1.1}, {"s12", 12, 1.9}, {"a12", 12, 2.3}, {"a13", 13, 3.1}};
  // Node 2 finds s13 after a13 existed (node 0 at 3.0) but before it reached node 2: in flight;
  // and o13 after it held a13: old tip.
  ev[2] = {{"a11", 11, 1.1}, {"a12", 12, 2.1}, {"s13", 13, 3.05}, {"a13", 13, 3.2}, {"o13", 13, 3.5}};
  auto r = analyse_blocks(ev, kFinal, 10, 13);
  EXPECT_EQ(r.stale, 3u);
  EXPECT_EQ(r.stale_raced, 1u);
  EXPECT_EQ(r.stale_in_flight, 1u);
  EXPECT_EQ(r.stale_old_tip, 1u);
  EXPECT_EQ(r.after_final_read, 0u);
}

TEST(BlockReport, EventsBeforeTheMeasuredWindowAreIgnored) {
  std::vector<std::vector<BlockEvent>> ev(2);
  ev[0] = {{"x10", 10, 0.1}, {"a11", 11, 1.0}, {"a12", 12, 2.0}, {"a13", 13, 3.0}};
  ev[1] = {{"a11", 11, 1.0}, {"a12", 12, 2.0}, {"a13", 13, 3.0}};
  auto r = analyse_blocks(ev, kFinal, 10, 13);
  EXPECT_EQ(r.stale, 0u);
}

}  // namespace
}  // namespace peerchain::apps::load
