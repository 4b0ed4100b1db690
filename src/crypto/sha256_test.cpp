#include "crypto/sha256.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace peerchain;
using crypto::Hash256;
using util::as_bytes;
using util::Bytes;
using util::ByteSpan;

namespace {

Bytes concat(ByteSpan a, ByteSpan b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// FIPS 180-2 / NIST CAVP known answers.
struct Kat {
  std::string msg;
  const char* hex;
};
std::vector<Kat> nist_vectors() {
  return {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopq"
       "rsmnopqrstnopqrstu",
       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
      {std::string(1000000, 'a'), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
  };
}

}  // namespace

TEST(Sha256, NistKnownAnswers) {
  for (const auto& v : nist_vectors()) {
    EXPECT_EQ(crypto::sha256(as_bytes(v.msg)).hex(), v.hex) << "length " << v.msg.size();
    crypto::Sha256 h;
    EXPECT_EQ(h.write(as_bytes(v.msg)).finalize().hex(), v.hex) << "length " << v.msg.size();
  }
}

TEST(Sha256, MillionAIncrementalOddChunks) {
  const std::string a(1000000, 'a');
  const char* expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  for (size_t base : {1u, 3u, 7u, 55u, 63u, 64u, 65u, 127u, 1000u, 4099u}) {
    crypto::Sha256 h;
    size_t pos = 0, step = 0;
    while (pos < a.size()) {
      // Vary the chunk size around `base` so block boundaries fall everywhere.
      size_t n = std::min(a.size() - pos, base + (step++ % 5));
      h.write(ByteSpan(reinterpret_cast<const uint8_t*>(a.data()) + pos, n));
      pos += n;
    }
    EXPECT_EQ(h.finalize().hex(), expected) << "chunk base " << base;
  }
}

TEST(Sha256, FinalizeResetsForReuse) {
  crypto::Sha256 h;
  h.write(as_bytes("garbage"));
  h.reset();
  EXPECT_EQ(h.write(as_bytes("abc")).finalize().hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // finalize() leaves the hasher ready for a new message.
  EXPECT_EQ(h.finalize().hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(h.write(as_bytes("ab")).write(as_bytes("")).write(as_bytes("c")).finalize().hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, DoubleHash) {
  auto abc = as_bytes("abc");
  EXPECT_EQ(crypto::sha256d(abc), crypto::sha256(crypto::sha256(abc).span()));
  EXPECT_EQ(crypto::sha256d(abc).hex(),
            "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358");
}

TEST(TaggedHash, MatchesDefinition) {
  for (const std::string& tag :
       std::vector<std::string>{"", "BIP0340/challenge", "peerchain/txid", std::string(200, 't')}) {
    crypto::TaggedHash th(tag);
    Hash256 t = crypto::sha256(as_bytes(tag));
    for (const std::string& msg : std::vector<std::string>{"", "abc", std::string(100, 'x')}) {
      Bytes pre = concat(concat(t.span(), t.span()), as_bytes(msg));
      EXPECT_EQ(th(as_bytes(msg)), crypto::sha256(pre)) << tag << " / " << msg;
    }
    // Two-part form hashes the concatenation.
    EXPECT_EQ(th(as_bytes("ab"), as_bytes("cdef")), th(as_bytes("abcdef")));
    EXPECT_EQ(th(as_bytes(""), as_bytes("abc")), th(as_bytes("abc")));
  }
}

TEST(TaggedHash, Bip340AuxKnownAnswer) {
  // TaggedHash("BIP0340/aux", 32 zero bytes): the constant libsecp256k1 uses as its
  // precomputed all-zero aux mask.
  crypto::TaggedHash aux("BIP0340/aux");
  EXPECT_EQ(aux(Hash256{}.span()).hex(),
            "54f169cfc9e2e5727480441f90ba25c488f461c70b5ea5dcaaf7af69270aa514");
}

TEST(Sha256dMidstate, PadTailLayout) {
  Bytes tail = {1, 2, 3};
  auto block = crypto::Sha256dMidstate::pad_tail(tail);
  EXPECT_EQ(block[0], 1);
  EXPECT_EQ(block[2], 3);
  EXPECT_EQ(block[3], 0x80);
  for (size_t i = 4; i < 62; ++i) EXPECT_EQ(block[i], 0) << i;
  // (64 + 3) * 8 = 536 = 0x0218 bits, big-endian.
  EXPECT_EQ(block[62], 0x02);
  EXPECT_EQ(block[63], 0x18);

  auto full = crypto::Sha256dMidstate::pad_tail(Bytes(crypto::Sha256dMidstate::kMaxTail, 0xff));
  EXPECT_EQ(full[55 - 1], 0xff);
  EXPECT_EQ(full[55], 0x80);
  EXPECT_EQ(full[62], 0x03);  // (64 + 55) * 8 = 952 = 0x03b8
  EXPECT_EQ(full[63], 0xb8);
}

TEST(Sha256dMidstate, FixedExample) {
  Bytes msg(64 + 52);
  for (size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<uint8_t>(i * 7 + 1);
  crypto::Sha256dMidstate mid(ByteSpan(msg.data(), 64));
  auto padded = crypto::Sha256dMidstate::pad_tail(ByteSpan(msg.data() + 64, 52));
  EXPECT_EQ(mid.hash(padded), crypto::sha256d(msg));
  // An empty tail is allowed too.
  EXPECT_EQ(mid.hash(crypto::Sha256dMidstate::pad_tail({})), crypto::sha256d(ByteSpan(msg.data(), 64)));
}

RC_GTEST_PROP(Sha256dMidstate, EqualsSha256d, ()) {
  const auto first = *rc::gen::container<Bytes>(64, rc::gen::arbitrary<uint8_t>());
  const auto tail_len = *rc::gen::inRange<size_t>(0, crypto::Sha256dMidstate::kMaxTail + 1);
  auto tail = *rc::gen::container<Bytes>(tail_len, rc::gen::arbitrary<uint8_t>());

  crypto::Sha256dMidstate mid(first);
  auto padded = crypto::Sha256dMidstate::pad_tail(tail);
  RC_ASSERT(mid.hash(padded) == crypto::sha256d(concat(first, tail)));

  // Patch tail bytes in place (as a miner bumps its nonce) and hash again.
  if (tail_len > 0) {
    const auto patches = *rc::gen::inRange<int>(1, 6);
    for (int p = 0; p < patches; ++p) {
      const auto pos = *rc::gen::inRange<size_t>(0, tail_len);
      const auto val = *rc::gen::arbitrary<uint8_t>();
      tail[pos] = val;
      padded[pos] = val;
    }
    RC_ASSERT(mid.hash(padded) == crypto::sha256d(concat(first, tail)));
  }
}

RC_GTEST_PROP(Sha256, IncrementalEqualsOneShot, (const Bytes& data)) {
  const auto cut = *rc::gen::inRange<size_t>(0, data.size() + 1);
  crypto::Sha256 h;
  h.write(ByteSpan(data).first(cut)).write(ByteSpan(data).subspan(cut));
  RC_ASSERT(h.finalize() == crypto::sha256(data));
}

RC_GTEST_PROP(Sha256, PrefixedEqualsSha256OfTheConcatenation, (uint8_t prefix)) {
  crypto::Hash256 a, b;
  for (auto& x : a) x = *rc::gen::arbitrary<uint8_t>();
  for (auto& x : b) x = *rc::gen::arbitrary<uint8_t>();
  Bytes one = {prefix};
  one.insert(one.end(), a.begin(), a.end());
  RC_ASSERT(crypto::sha256_prefixed(prefix, a) == crypto::sha256(one));
  Bytes two = one;
  two.insert(two.end(), b.begin(), b.end());
  RC_ASSERT(crypto::sha256_prefixed(prefix, a, b) == crypto::sha256(two));
}
