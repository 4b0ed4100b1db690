#include "storage/schema.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

using namespace peerchain;
using namespace peerchain::storage;

TEST(Schema, IndexRecordRoundTripAndStrict) {
  BlockIndexRecord r;
  r.header.height = 9;
  r.header.nonce = 77;
  r.status = kStatusHaveData;
  r.sequence = 123;
  auto bytes = encode_index_record(r);
  auto back = decode_index_record(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->header, r.header);
  EXPECT_EQ(back->status, r.status);
  EXPECT_EQ(back->sequence, r.sequence);
  bytes.push_back(1);
  EXPECT_FALSE(decode_index_record(bytes).ok());
  bytes.pop_back();
  bytes[primitives::BlockHeader::kEncodedSize] = 0x80;  // unknown status bit
  EXPECT_FALSE(decode_index_record(bytes).ok());
}

RC_GTEST_PROP(Schema, UndoRoundTrip, (std::vector<std::pair<uint64_t, uint64_t>> accts)) {
  UndoRecord u;
  uint8_t i = 0;
  for (auto [bal, nonce] : accts) {
    AccountUndo a;
    a.key[0] = i++;
    if (bal % 3 != 0) a.prior = primitives::Account{bal, nonce};
    u.accounts.push_back(a);
  }
  auto back = decode_undo(encode_undo(u));
  RC_ASSERT(back.ok());
  RC_ASSERT(back->accounts.size() == u.accounts.size());
  for (size_t k = 0; k < u.accounts.size(); ++k) {
    RC_ASSERT(back->accounts[k].key == u.accounts[k].key);
    RC_ASSERT(back->accounts[k].prior == u.accounts[k].prior);
  }
}

TEST(Schema, CorruptUndoRefused) {
  UndoRecord u;
  u.accounts.push_back({{}, primitives::Account{5, 1}});
  auto bytes = encode_undo(u);
  auto cut = bytes;
  cut.pop_back();
  EXPECT_FALSE(decode_undo(cut).ok());
  auto flag = bytes;
  flag[1 + 32] = 2;
  EXPECT_FALSE(decode_undo(flag).ok());
  util::Bytes huge = {0xfe, 0xff, 0xff, 0xff, 0x00};  // claims 16M entries in 5 bytes
  EXPECT_FALSE(decode_undo(huge).ok());
}

TEST(Schema, TxLocation) {
  TxLocation l;
  l.block[3] = 9;
  l.position = 42;
  auto back = decode_tx_location(encode_tx_location(l));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->block, l.block);
  EXPECT_EQ(back->position, 42u);
  EXPECT_FALSE(decode_tx_location(util::Bytes(35)).ok());
}
