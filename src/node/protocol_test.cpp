#include "node/protocol.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

using namespace peerchain;
using namespace peerchain::node;

TEST(Protocol, InvRoundTripAndStrict) {
  std::vector<InvItem> items{{InvKind::kTx, crypto::sha256(util::as_bytes("a"))},
                             {InvKind::kBlock, crypto::sha256(util::as_bytes("b"))}};
  auto bytes = encode_inv(items);
  auto back = decode_inv(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, items);
  auto bad_kind = bytes;
  bad_kind[1] = 9;
  EXPECT_FALSE(decode_inv(bad_kind).ok());
  bytes.push_back(0);
  EXPECT_FALSE(decode_inv(bytes).ok());
  util::Bytes huge{0xfe, 0xff, 0xff, 0xff, 0x00};
  EXPECT_EQ(decode_inv(huge).error().code, "too-large");
}

RC_GTEST_PROP(Protocol, LocatorRoundTrip, (std::vector<uint8_t> seeds)) {
  std::vector<primitives::BlockId> ids;
  for (size_t i = 0; i < seeds.size() && i < kMaxLocator; ++i) ids.push_back(crypto::sha256(util::ByteSpan(&seeds[i], 1)));
  auto back = decode_locator(encode_locator(ids));
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == ids);
}

TEST(Protocol, HeadersRoundTripAndLimits) {
  std::vector<primitives::BlockHeader> hs(3);
  for (uint32_t i = 0; i < 3; ++i) hs[i].height = i + 7;
  auto back = decode_headers(encode_headers(hs));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, hs);
  auto limits = node_message_limits(consensus::dev_params());
  EXPECT_EQ(*limits.max_payload(msg::kTx), 156u);
  EXPECT_GE(*limits.max_payload(msg::kHeaders), encode_headers(std::vector<primitives::BlockHeader>(kMaxHeaders)).size());
  EXPECT_FALSE(limits.max_payload(99).has_value());
}

TEST(Protocol, TxsRoundTripAndStrict) {
  std::vector<primitives::Transaction> txs(3);
  for (uint64_t i = 0; i < 3; ++i) txs[i].nonce = i + 1;
  std::vector<const primitives::Transaction*> ptrs{&txs[0], &txs[1], &txs[2]};
  auto bytes = encode_txs(ptrs);
  EXPECT_EQ(bytes.size(), 1 + 3 * 156u);
  auto back = decode_txs(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, txs);
  EXPECT_EQ(decode_txs(util::Bytes{0x00}).error().code, "bad-count");  // an empty batch is malformed
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_EQ(decode_txs(longer).error().code, "bad-length");
  bytes.pop_back();
  EXPECT_EQ(decode_txs(bytes).error().code, "bad-length");
  util::Bytes past_cap{0xfd, 0xe9, 0x03};  // 1,001: over kMaxTxsPerMessage, refused before reading on
  EXPECT_EQ(decode_txs(past_cap).error().code, "too-large");
  auto limits = node_message_limits(consensus::dev_params());
  std::vector<const primitives::Transaction*> full(kMaxTxsPerMessage, &txs[0]);
  EXPECT_GE(*limits.max_payload(msg::kTxs), encode_txs(full).size());
}
