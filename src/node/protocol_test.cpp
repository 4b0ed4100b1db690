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
