#include "net/frame.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "crypto/sha256.h"

using namespace peerchain;
using namespace peerchain::net;

namespace {

const Magic kMagic{{0xf9, 0xbe, 0xb4, 0xd9}};
constexpr uint16_t kTypeA = 16;
constexpr uint16_t kTypeB = 17;

MessageLimits limits() {
  MessageLimits l = net_message_limits();
  l.set(kTypeA, 1000);
  l.set(kTypeB, 5);
  return l;
}

// Decodes everything in `in`; stops at the first error.
struct DecodeAll {
  std::vector<Frame> frames;
  std::optional<FrameError> error;
};
DecodeAll decode_all(FrameDecoder& d, ByteSpan in) {
  DecodeAll out;
  while (!in.empty()) {
    auto r = d.next(in);
    if (!r) {
      out.error = r.error();
      break;
    }
    if (*r) out.frames.push_back(std::move(**r));
  }
  return out;
}

}  // namespace

TEST(Frame, EncodingLayout) {
  Bytes payload = {1, 2, 3};
  auto f = encode_frame(kMagic, 0x1234, payload);
  ASSERT_EQ(f.size(), kFrameHeaderSize + 3);
  auto sum = crypto::sha256d(payload);
  // magic | type 34 12 | length 03 00 00 00 | checksum | payload
  EXPECT_EQ(util::to_hex(f),
            "f9beb4d9"
            "3412"
            "03000000" +
                util::to_hex(ByteSpan(sum.data.data(), 4)) + "010203");
}

TEST(Frame, RoundTripSeveralFramesInOneChunk) {
  auto l = limits();
  Bytes stream;
  for (uint16_t t : {kTypeA, msg::kHelloAck, kTypeB, kTypeA}) {
    Bytes p(t == kTypeB ? 5 : t == msg::kHelloAck ? 0 : 100 + t, static_cast<uint8_t>(t));
    auto f = encode_frame(kMagic, t, p);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  FrameDecoder d(kMagic, l);
  auto got = decode_all(d, stream);
  ASSERT_FALSE(got.error) << got.error->to_string();
  ASSERT_EQ(got.frames.size(), 4u);
  EXPECT_EQ(got.frames[0].type, kTypeA);
  EXPECT_EQ(got.frames[0].payload, Bytes(116, 16));
  EXPECT_EQ(got.frames[1].type, msg::kHelloAck);
  EXPECT_TRUE(got.frames[1].payload.empty());
  EXPECT_EQ(got.frames[2].payload, Bytes(5, 17));
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(Frame, SplitAtEveryByteBoundary) {
  auto l = limits();
  Bytes stream;
  for (int i = 0; i < 3; ++i) {
    Bytes p(static_cast<size_t>(10 * i), static_cast<uint8_t>(i));
    auto f = encode_frame(kMagic, kTypeA, p);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    FrameDecoder d(kMagic, l);
    auto a = decode_all(d, ByteSpan(stream).first(cut));
    auto b = decode_all(d, ByteSpan(stream).subspan(cut));
    ASSERT_FALSE(a.error || b.error) << "cut " << cut;
    ASSERT_EQ(a.frames.size() + b.frames.size(), 3u) << "cut " << cut;
  }
  // And one byte at a time.
  FrameDecoder d(kMagic, l);
  size_t frames = 0;
  for (uint8_t byte : stream) frames += decode_all(d, ByteSpan(&byte, 1)).frames.size();
  EXPECT_EQ(frames, 3u);
}

RC_GTEST_PROP(Frame, RandomChunkingYieldsTheSameFrames,
              (std::vector<std::vector<uint8_t>> payloads, std::vector<uint8_t> cuts)) {
  auto l = limits();
  Bytes stream;
  size_t n = 0;
  for (auto& p : payloads) {
    if (p.size() > 1000) p.resize(1000);
    auto f = encode_frame(kMagic, kTypeA, p);
    stream.insert(stream.end(), f.begin(), f.end());
    ++n;
  }
  FrameDecoder d(kMagic, l);
  std::vector<Frame> got;
  size_t pos = 0, ci = 0;
  while (pos < stream.size()) {
    size_t len = std::min<size_t>(stream.size() - pos, ci < cuts.size() ? cuts[ci++] + 1u : stream.size());
    auto r = decode_all(d, ByteSpan(stream).subspan(pos, len));
    RC_ASSERT(!r.error);
    for (auto& f : r.frames) got.push_back(std::move(f));
    pos += len;
  }
  RC_ASSERT(got.size() == n);
  for (size_t i = 0; i < n; ++i) RC_ASSERT(got[i].payload == Bytes(payloads[i].begin(), payloads[i].end()));
}

TEST(Frame, WrongMagicRefusedAtTheFirstWrongByte) {
  auto l = limits();
  FrameDecoder d(kMagic, l);
  Bytes in = {0xf9, 0xbe, 0x00};
  ByteSpan s(in);
  auto r = d.next(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, FrameErrorCode::kWrongMagic);
  EXPECT_EQ(s.size(), 1u);  // stopped at the offending byte
  EXPECT_EQ(d.buffered(), 0u);
  // Poisoned.
  auto good = encode_frame(kMagic, kTypeA, Bytes{1});
  ByteSpan gs(good);
  EXPECT_EQ(d.next(gs).error().code, FrameErrorCode::kWrongMagic);
}

TEST(Frame, UnknownTypeRefused) {
  auto l = limits();
  for (uint16_t t : {uint16_t{9}, uint16_t{15}, uint16_t{18}, uint16_t{0xffff}}) {
    FrameDecoder d(kMagic, l);
    auto f = encode_frame(kMagic, t, Bytes{});
    auto got = decode_all(d, f);
    ASSERT_TRUE(got.error) << t;
    EXPECT_EQ(got.error->code, FrameErrorCode::kUnknownType);
    EXPECT_STREQ(token(got.error->code), "unknown-type");
  }
}

TEST(Frame, OversizeRefusedFromTheHeaderBeforeThePayloadArrives) {
  auto l = limits();
  FrameDecoder d(kMagic, l);
  auto f = encode_frame(kMagic, kTypeB, Bytes(6, 0));  // cap 5
  // Only the header: the error comes before any payload byte.
  ByteSpan header = ByteSpan(f).first(kFrameHeaderSize);
  auto r = d.next(header);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, FrameErrorCode::kOversize);
  EXPECT_EQ(d.buffered(), 0u);

  // A header claiming 4 GiB is refused without buffering anything.
  FrameDecoder d2(kMagic, l);
  Bytes huge = {0xf9, 0xbe, 0xb4, 0xd9, 16, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
  ByteSpan hs(huge);
  EXPECT_EQ(d2.next(hs).error().code, FrameErrorCode::kOversize);

  // Exactly at the cap is fine.
  FrameDecoder d3(kMagic, l);
  auto ok = encode_frame(kMagic, kTypeB, Bytes(5, 0));
  EXPECT_EQ(decode_all(d3, ok).frames.size(), 1u);
}

TEST(Frame, NetTypesHaveTheirCaps) {
  const auto& l = net_message_limits();
  EXPECT_EQ(l.max_payload(msg::kHelloAck), 0u);
  EXPECT_EQ(l.max_payload(msg::kPing), 8u);
  EXPECT_EQ(l.max_payload(msg::kGetAddr), 0u);
  EXPECT_EQ(l.max_payload(msg::kKeyExchange), 34u);
  EXPECT_EQ(l.max_payload(msg::kAuth), 96u);
  EXPECT_FALSE(l.max_payload(9));
  FrameDecoder d(kMagic, l);
  auto f = encode_frame(kMagic, msg::kPing, Bytes(9, 0));
  EXPECT_EQ(decode_all(d, f).error->code, FrameErrorCode::kOversize);
}

TEST(Frame, BadChecksumRefused) {
  auto l = limits();
  auto f = encode_frame(kMagic, kTypeA, Bytes{1, 2, 3});
  for (size_t i : {size_t{10}, size_t{13}, f.size() - 1}) {
    auto bad = f;
    bad[i] ^= 0x01;
    FrameDecoder d(kMagic, l);
    auto got = decode_all(d, bad);
    ASSERT_TRUE(got.error) << i;
    EXPECT_EQ(got.error->code, FrameErrorCode::kBadChecksum);
    EXPECT_EQ(got.error->to_string().rfind("checksum", 0), 0u);
  }
}

TEST(Frame, AnyBytesGiveFramesOrAnErrorNeverACrash) {
  rc::check([](std::vector<uint8_t> junk) {
    auto l = limits();
    FrameDecoder d(kMagic, l);
    Bytes in = {0xf9, 0xbe, 0xb4, 0xd9};
    in.insert(in.end(), junk.begin(), junk.end());
    auto r = decode_all(d, in);
    RC_ASSERT(d.buffered() <= kFrameHeaderSize + 1000);
    (void)r;
  });
}
