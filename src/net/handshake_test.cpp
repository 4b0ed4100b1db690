#include "net/handshake.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "net/messages.h"
#include "util/serialize.h"

using namespace peerchain;
using namespace peerchain::net;

namespace {

Hello sample() {
  Hello h;
  h.protocol_version = 1;  // as the spec's vector
  h.magic = Magic{{0xf9, 0xbe, 0xb4, 0xd9}};
  h.chain_id = 2;
  h.genesis_id[0] = 0xaa;
  h.genesis_id[31] = 0x55;
  h.node_nonce = 0x0102030405060708ULL;
  h.listen_port = 18444;
  h.best_height = 77;
  h.user_agent = "peerchain/0.1.0";
  return h;
}

}  // namespace

TEST(Hello, RoundTrip) {
  auto h = sample();
  auto b = encode_hello(h);
  EXPECT_EQ(b.size(), 58u + 1 + h.user_agent.size());
  auto d = decode_hello(b);
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ(*d, h);
  h.user_agent = std::string(kMaxUserAgentLength, 'x');
  b = encode_hello(h);
  EXPECT_EQ(b.size(), kMaxHelloSize);
  EXPECT_EQ(*decode_hello(b), h);
}

TEST(Hello, LayoutIsLittleEndianInFieldOrder) {
  auto h = sample();
  h.user_agent = "ab";
  EXPECT_EQ(util::to_hex(encode_hello(h)), std::string("01000000"
                                                       "f9beb4d9"
                                                       "02000000") +
                                               "aa" + std::string(60, '0') + "55" +
                                               "0807060504030201"
                                               "0c48"
                                               "4d000000"
                                               "02"
                                               "6162");
}

TEST(Hello, StrictDecoding) {
  auto b = encode_hello(sample());
  for (size_t n = 0; n < b.size(); ++n)
    EXPECT_FALSE(decode_hello(util::ByteSpan(b).first(n)).ok()) << "truncated at " << n;
  auto trailing = b;
  trailing.push_back(0);
  EXPECT_EQ(decode_hello(trailing).error().code, "trailing-bytes");

  // The fixed 58-byte prefix followed by a hand-made user agent field.
  auto with_ua_field = [&](Bytes field) {
    Bytes out(b.begin(), b.begin() + 58);
    out.insert(out.end(), field.begin(), field.end());
    return out;
  };
  Bytes too_long = {65};
  too_long.resize(66, 'x');
  EXPECT_EQ(decode_hello(with_ua_field(too_long)).error().code, "too-large");
  EXPECT_EQ(decode_hello(with_ua_field({0xfd, 0x01, 0x00, 'x'})).error().code, "non-canonical");
  EXPECT_EQ(decode_hello(with_ua_field({1, '\n'})).error().code, "bad-user-agent");
  EXPECT_TRUE(decode_hello(with_ua_field({1, 'x'})).ok());
}

TEST(Hello, Checks) {
  auto local = sample();
  auto remote = sample();
  remote.node_nonce = 99;
  remote.best_height = 5;
  remote.listen_port = 0;
  remote.user_agent = "other";
  EXPECT_TRUE(check_hello(local, remote).ok());

  auto r = remote;
  r.magic[0] ^= 1;
  EXPECT_EQ(check_hello(local, r).error().code, "wrong-network");
  r = remote;
  r.chain_id = 1;
  EXPECT_EQ(check_hello(local, r).error().code, "wrong-network");
  r = remote;
  r.genesis_id[5] = 1;
  EXPECT_EQ(check_hello(local, r).error().code, "wrong-genesis");
  r = remote;
  r.node_nonce = local.node_nonce;
  EXPECT_EQ(check_hello(local, r).error().code, "self-connection");
  r = remote;
  r.protocol_version = kMinProtocolVersion - 1;
  EXPECT_EQ(check_hello(local, r).error().code, "old-version");
  r.protocol_version = kProtocolVersion + 7;  // newer peers are welcome
  EXPECT_TRUE(check_hello(local, r).ok());
}

TEST(Messages, NonceReasonAndAddrRoundTrip) {
  EXPECT_EQ(*decode_nonce(encode_nonce(42)), 42u);
  EXPECT_FALSE(decode_nonce(Bytes(7, 0)).ok());
  EXPECT_FALSE(decode_nonce(Bytes(9, 0)).ok());

  EXPECT_EQ(*decode_reason(encode_reason("wrong-genesis: x")), "wrong-genesis: x");
  EXPECT_EQ(decode_reason(encode_reason(std::string(1000, 'a')))->size(), kMaxReasonLength);
  Bytes odd = {2, 'a', 0x07};
  EXPECT_EQ(*decode_reason(odd), "a?");

  std::vector<NetAddress> addrs = {*NetAddress::from_ip("127.0.0.1", 8333), *NetAddress::from_ip("::1", 1),
                                   *NetAddress::from_ip("2001:db8::7", 65535)};
  auto got = decode_addr(encode_addr(addrs));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, addrs);
  EXPECT_EQ(addrs[0].to_string(), "127.0.0.1:8333");
  EXPECT_EQ(addrs[1].to_string(), "[::1]:1");
  EXPECT_EQ(*NetAddress::from_ip("::ffff:10.0.0.1", 5), *NetAddress::from_ip("10.0.0.1", 5));
  EXPECT_FALSE(NetAddress::from_ip("example.com", 5));

  auto b = encode_addr(addrs);
  b.pop_back();
  EXPECT_FALSE(decode_addr(b).ok());
  util::Writer w;
  w.compact_size(kMaxAddrPerMessage + 1);
  EXPECT_EQ(decode_addr(w.data()).error().code, "too-large");
}

TEST(Messages, Dialable) {
  EXPECT_TRUE(NetAddress::from_ip("127.0.0.1", 1)->is_dialable());
  EXPECT_FALSE(NetAddress::from_ip("127.0.0.1", 0)->is_dialable());
  EXPECT_FALSE(NetAddress::from_ip("0.0.0.0", 80)->is_dialable());
  EXPECT_FALSE(NetAddress::from_ip("::", 80)->is_dialable());
  EXPECT_FALSE(NetAddress::from_ip("224.0.0.1", 80)->is_dialable());
  EXPECT_FALSE(NetAddress::from_ip("255.255.255.255", 80)->is_dialable());
}

// The vectors in docs/spec/p2p.md: a "vector NAME" line, then hex (possibly wrapped) up to a
// blank line or a code fence; the same convention as encoding.md.
namespace {
std::map<std::string, std::string> spec_vectors() {
  std::ifstream in(std::string(PEERCHAIN_SPEC_DIR) + "/p2p.md");
  std::map<std::string, std::string> out;
  std::string line, pending;
  while (std::getline(in, line)) {
    if (line.rfind("vector ", 0) == 0)
      pending = line.substr(7);
    else if (line.empty() || line.rfind("```", 0) == 0)
      pending.clear();
    else if (!pending.empty())
      out[pending] += line;
  }
  return out;
}
}  // namespace

TEST(Spec, P2PVectorsMatch) {
  auto v = spec_vectors();
  ASSERT_EQ(v.size(), 5u) << "vectors missing from docs/spec/p2p.md";
  const Magic magic{{0xf9, 0xbe, 0xb4, 0xd9}};
  EXPECT_EQ(util::to_hex(encode_frame(magic, msg::kPing, encode_nonce(42))), v["ping-42"]);
  EXPECT_EQ(util::to_hex(encode_frame(magic, msg::kHelloAck, {})), v["hello-ack"]);
  EXPECT_EQ(util::to_hex(encode_frame(magic, msg::kDisconnect, encode_reason("wrong-genesis"))),
            v["disconnect-wrong-genesis"]);
  auto h = sample();
  h.user_agent = "ab";
  EXPECT_EQ(util::to_hex(encode_frame(magic, msg::kHello, encode_hello(h))), v["hello"]);
  EXPECT_EQ(
      util::to_hex(encode_frame(magic, msg::kAddr, encode_addr({*NetAddress::from_ip("127.0.0.1", 8333)}))),
      v["addr-localhost"]);
  // And the other way: each decodes.
  auto frame_of = [&](const std::string& name) {
    auto bytes = *util::from_hex(v[name]);
    FrameDecoder d(magic, net_message_limits());
    ByteSpan in(bytes);
    auto f = d.next(in);
    EXPECT_TRUE(f.ok() && *f && in.empty()) << name;
    return f.ok() && *f ? **f : Frame{};
  };
  EXPECT_EQ(*decode_hello(frame_of("hello").payload), h);
  EXPECT_EQ(*decode_nonce(frame_of("ping-42").payload), 42u);
  EXPECT_EQ(*decode_reason(frame_of("disconnect-wrong-genesis").payload), "wrong-genesis");
  EXPECT_EQ(decode_addr(frame_of("addr-localhost").payload)->at(0).to_string(), "127.0.0.1:8333");
}
