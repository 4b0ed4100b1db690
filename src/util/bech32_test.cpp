#include "util/bech32.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>
#include <vector>

using namespace peerchain::util;

namespace {

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// BIP350 "Test vectors for Bech32m": valid strings.
const std::vector<std::string> kValidBech32m = {
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
};

// BIP350 invalid bech32m strings, with the error code this implementation gives.
struct Invalid {
  std::string s;
  const char* code;
};
const std::vector<Invalid> kInvalidBech32m = {
    {"\x20" "1xj0phk", "bad-char"},  // HRP character out of range
    {"\x7f" "1g6xzxy", "bad-char"},
    {"\x80" "1vctc34", "bad-char"},
    {"an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
     "bad-length"},                   // overall max length exceeded
    {"qyrz8wqd2c9m", "no-separator"},
    {"1qyrz8wqd2c9m", "bad-hrp"},     // empty HRP
    {"y1b0jsk6g", "bad-char"},        // invalid data character
    {"lt1igcx5c0", "bad-char"},
    {"in1muywd", "bad-length"},       // too short checksum
    {"mm1crxm3i", "bad-char"},        // invalid character in checksum
    {"au1s5cgom", "bad-char"},
    {"M1VUXWEZ", "bad-checksum"},     // checksum calculated with uppercase form of HRP
    {"16plkw9", "bad-hrp"},
    {"1p2gdwpf", "bad-hrp"},
};

// BIP173's valid bech32 strings: the old constant must be refused.
const std::vector<std::string> kValidBech32 = {
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
};

const char kCharset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

}  // namespace

TEST(Bech32m, Bip350ValidChecksums) {
  for (const auto& s : kValidBech32m) {
    auto dec = bech32m_decode_5bit(s);
    ASSERT_TRUE(dec.ok()) << s << ": " << dec.error().to_string();
    EXPECT_EQ(bech32m_encode_5bit(dec->first, dec->second), lower(s)) << s;
  }
  auto abc = bech32m_decode_5bit("abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx");
  ASSERT_TRUE(abc.ok());
  EXPECT_EQ(abc->first, "abcdef");
  ASSERT_EQ(abc->second.size(), 32u);
  for (size_t i = 0; i < 32; ++i) EXPECT_EQ(abc->second[i], 31 - i);
  auto q = bech32m_decode_5bit("?1v759aa");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->first, "?");
  EXPECT_TRUE(q->second.empty());
  auto upper = bech32m_decode_5bit("A1LQFN3A");
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(upper->first, "a");  // hrp comes back lower-cased
}

TEST(Bech32m, Bip350InvalidRefused) {
  for (const auto& v : kInvalidBech32m) {
    auto dec5 = bech32m_decode_5bit(v.s);
    ASSERT_FALSE(dec5.ok()) << v.s;
    EXPECT_EQ(dec5.error().code, v.code) << v.s;
    EXPECT_FALSE(bech32m_decode(v.s).ok()) << v.s;
  }
}

TEST(Bech32m, Bech32ConstantRefused) {
  for (const auto& s : kValidBech32) {
    auto dec = bech32m_decode_5bit(s);
    ASSERT_FALSE(dec.ok()) << s;
    EXPECT_EQ(dec.error().code, "bad-checksum") << s;
  }
}

TEST(Bech32m, ByteKnownAnswer) {
  // The 5-bit values 31, 30, ..., 0 of the BIP350 "abcdef" vector are exactly 20 bytes
  // (160 bits, most significant bit first, no padding).
  auto bytes = *from_hex("ffbbcdeb38bdab49ca307b9ac5a928398a418820");
  EXPECT_EQ(bech32m_encode("abcdef", bytes), "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx");
  auto dec = bech32m_decode("abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx");
  ASSERT_TRUE(dec.ok()) << dec.error().to_string();
  EXPECT_EQ(dec->first, "abcdef");
  EXPECT_EQ(dec->second, bytes);
  // Empty payload.
  EXPECT_EQ(bech32m_encode("a", {}), "a1lqfn3a");
  auto empty = bech32m_decode("A1LQFN3A");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->second.empty());
}

TEST(Bech32m, PaddingRules) {
  // 82 x 31: 410 bits = 51 bytes + 2 padding bits, which are 1s.
  auto ones = bech32m_decode(
      "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8");
  ASSERT_FALSE(ones.ok());
  EXPECT_EQ(ones.error().code, "bad-padding");
  // One 5-bit value: 5 bits of padding, more than 4.
  Bytes one = {0};
  auto five = bech32m_decode(bech32m_encode_5bit("pc", one));
  ASSERT_FALSE(five.ok());
  EXPECT_EQ(five.error().code, "bad-padding");
  // Two values = 1 byte + 2 padding bits: zero accepted, non-zero refused.
  Bytes zero_pad = {31, 28};
  auto ok = bech32m_decode(bech32m_encode_5bit("pc", zero_pad));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->second, Bytes{0xff});
  Bytes bad_pad = {31, 29};
  auto bad = bech32m_decode(bech32m_encode_5bit("pc", bad_pad));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "bad-padding");
}

TEST(Bech32m, MixedCaseAndLengthRefused) {
  auto s = bech32m_encode("pc", Bytes(32, 0x5a));
  std::string mixed = s;
  mixed[5] = static_cast<char>(mixed[5] >= 'a' && mixed[5] <= 'z' ? mixed[5] - 32 : mixed[5]);
  if (mixed != s) {
    auto dec = bech32m_decode(mixed);
    ASSERT_FALSE(dec.ok());
    EXPECT_EQ(dec.error().code, "mixed-case");
  }
  EXPECT_EQ(bech32m_decode("pc1qq").error().code, "bad-length");
  EXPECT_EQ(bech32m_decode("").error().code, "no-separator");
  EXPECT_EQ(bech32m_decode(std::string(91, 'q')).error().code, "bad-length");
  // Exactly 90 characters is allowed.
  auto longest = bech32m_encode_5bit("a", Bytes(90 - 1 - 1 - 6, 3));
  ASSERT_EQ(longest.size(), 90u);
  EXPECT_TRUE(bech32m_decode_5bit(longest).ok());
}

TEST(Bech32m, HrpValidity) {
  EXPECT_TRUE(bech32_hrp_valid("pc"));
  EXPECT_TRUE(bech32_hrp_valid("?"));
  EXPECT_FALSE(bech32_hrp_valid(""));
  EXPECT_FALSE(bech32_hrp_valid("PC"));
  EXPECT_FALSE(bech32_hrp_valid("p c"));
  EXPECT_FALSE(bech32_hrp_valid(std::string(84, 'a')));
  EXPECT_TRUE(bech32_hrp_valid(std::string(83, 'a')));
}

TEST(Bech32m, EverySingleSubstitutionRefused) {
  // Exhaustive over position and replacement for a few 32-byte payloads (the address shape).
  for (size_t fill : {0x00u, 0x5au, 0xffu}) {
    Bytes payload(32);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(fill ^ (i * 37));
    for (const char* hrp : {"pc", "pcdev"}) {
      const std::string s = bech32m_encode(hrp, payload);
      ASSERT_TRUE(bech32m_decode(s).ok());
      for (size_t pos = 0; pos < s.size(); ++pos) {
        for (int c = 33; c <= 126; ++c) {
          if (c == s[pos]) continue;
          std::string t = s;
          t[pos] = static_cast<char>(c);
          ASSERT_FALSE(bech32m_decode(t).ok()) << s << " -> " << t;
        }
      }
    }
  }
}

RC_GTEST_PROP(Bech32m, RoundTrip, ()) {
  const auto hrp_len = *rc::gen::inRange<size_t>(1, 20);
  // Printable ASCII without upper case ('1' included: the separator is the last '1').
  const auto hrp = *rc::gen::container<std::string>(
      hrp_len, rc::gen::suchThat(rc::gen::inRange<char>(33, 127),
                                 [](char c) { return c < 'A' || c > 'Z'; }));
  // 90 = hrp + '1' + ceil(8n / 5) + 6.
  const size_t max_bytes = (90 - hrp_len - 1 - 6) * 5 / 8;
  const auto n = *rc::gen::inRange<size_t>(0, max_bytes + 1);
  const auto data = *rc::gen::container<Bytes>(n, rc::gen::arbitrary<uint8_t>());
  const auto s = bech32m_encode(hrp, data);
  RC_ASSERT(s.size() <= kBech32MaxLength);
  auto dec = bech32m_decode(s);
  RC_ASSERT(dec.ok());
  RC_ASSERT(dec->first == hrp);
  RC_ASSERT(dec->second == data);
  // Upper case decodes to the same thing.
  std::string up = s;
  for (auto& c : up)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  auto dec_up = bech32m_decode(up);
  RC_ASSERT(dec_up.ok());
  RC_ASSERT(dec_up->second == data);
}

RC_GTEST_PROP(Bech32m, SingleSubstitutionIn32BytePayloadRefused, ()) {
  const auto data = *rc::gen::container<Bytes>(32, rc::gen::arbitrary<uint8_t>());
  const auto s = bech32m_encode("pc", data);
  const auto pos = *rc::gen::inRange<size_t>(0, s.size());
  // Mostly alphabet characters (the hard case: the string stays well-formed).
  char c = *rc::gen::oneOf(rc::gen::elementOf(std::string(kCharset)), rc::gen::inRange<char>(33, 127));
  RC_PRE(c != s[pos]);
  std::string t = s;
  t[pos] = c;
  RC_ASSERT(!bech32m_decode(t).ok());
}

RC_GTEST_PROP(Bech32m, DecodeNeverCrashes, (const std::string& s)) {
  auto dec = bech32m_decode(s);
  if (dec.ok()) RC_ASSERT(bech32m_encode(dec->first, dec->second) == lower(s));
}
