// PendingTxIndex: every record added is found at its block and position until forgotten, ids
// never added are not, and a take/put_back or a growth keeps them all.
#include "chain/pending_tx_index.h"

#include <gtest/gtest.h>

#include <random>

using namespace peerchain;
using chain::PendingTxIndex;
using primitives::BlockId;
using primitives::TxId;

namespace {

TxId random_id(std::mt19937_64& rng) {
  TxId id;
  for (auto& b : id.data) b = static_cast<uint8_t>(rng());
  return id;
}

std::vector<TxId> random_ids(std::mt19937_64& rng, size_t n) {
  std::vector<TxId> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back(random_id(rng));
  return ids;
}

void expect_found(const PendingTxIndex& p, const BlockId& block, const std::vector<TxId>& ids) {
  for (uint32_t i = 0; i < ids.size(); ++i) {
    auto loc = p.find(ids[i]);
    ASSERT_TRUE(loc) << "record " << i << " of " << block.hex();
    EXPECT_EQ(loc->block, block);
    EXPECT_EQ(loc->position, i);
  }
}

}  // namespace

TEST(PendingTxIndex, FindsEveryRecordUntilForgottenAndKeepsThoseAddedMeanwhile) {
  std::mt19937_64 rng(7);
  PendingTxIndex p(rng());
  EXPECT_FALSE(p.find(random_id(rng)));
  const BlockId a = random_id(rng), b = random_id(rng), c = random_id(rng);
  const auto ids_a = random_ids(rng, 5000), ids_b = random_ids(rng, 9000), ids_c = random_ids(rng, 300);
  p.add(a, ids_a);
  p.add(b, ids_b);  // grows the table past its first size
  expect_found(p, a, ids_a);
  expect_found(p, b, ids_b);
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(p.find(random_id(rng)));

  auto taken = p.take();
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0]->block, a);
  EXPECT_EQ(taken[1]->ids, ids_b);
  p.add(c, ids_c);  // a connect during the write
  expect_found(p, a, ids_a);  // still found while being written
  p.put_back();     // the write failed
  expect_found(p, b, ids_b);
  taken = p.take();
  ASSERT_EQ(taken.size(), 3u);
  p.forget();
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(p.records(), 0u);
  EXPECT_FALSE(p.find(ids_a[0]));
  EXPECT_FALSE(p.find(ids_c[0]));

  p.add(a, ids_a);
  taken = p.take();
  p.add(c, ids_c);
  p.forget();  // only the taken chunk
  EXPECT_FALSE(p.find(ids_a[17]));
  expect_found(p, c, ids_c);
  EXPECT_EQ(p.records(), ids_c.size());
  p.clear();
  EXPECT_FALSE(p.find(ids_c[0]));
}

// Ids that share their hashed bits (the salt is known here, so a run can be forced) are told
// apart by the stored id: a probe run never answers with another record's place.
TEST(PendingTxIndex, RecordsInOneProbeRunAreToldApartByTheirIds) {
  PendingTxIndex p(0);
  std::vector<TxId> ids;
  for (uint32_t i = 0; i < 64; ++i) {  // same first 16 bytes: the same tag
    TxId id;
    id.data[31] = static_cast<uint8_t>(i);
    ids.push_back(id);
  }
  const BlockId block = ids[5];
  p.add(block, ids);
  expect_found(p, block, ids);
  TxId other;
  other.data[30] = 1;
  EXPECT_FALSE(p.find(other));
}
