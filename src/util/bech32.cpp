#include "util/bech32.h"

#include <array>
#include <cassert>

namespace peerchain::util {

namespace {

constexpr char kCharset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr uint32_t kBech32mConst = 0x2bc830a3;
constexpr uint32_t kBech32Const = 1;  // BIP173; refused, but named in the error message
constexpr size_t kChecksumLength = 6;
constexpr size_t kMaxHrpLength = 83;

// Reverse of kCharset over ASCII: the 5-bit value of a lower-case data character, or -1.
constexpr std::array<int8_t, 128> make_charset_rev() {
  std::array<int8_t, 128> rev{};
  for (auto& r : rev) r = -1;
  for (int i = 0; i < 32; ++i) rev[static_cast<size_t>(kCharset[i])] = static_cast<int8_t>(i);
  return rev;
}
constexpr std::array<int8_t, 128> kCharsetRev = make_charset_rev();

// The BCH checksum state of BIP173/BIP350, fed one 5-bit value at a time.
class Polymod {
 public:
  void feed(uint32_t v) {
    const uint32_t b = chk_ >> 25;
    chk_ = ((chk_ & 0x1ffffff) << 5) ^ v;
    if (b & 1) chk_ ^= 0x3b6a57b2;
    if (b & 2) chk_ ^= 0x26508e6d;
    if (b & 4) chk_ ^= 0x1ea119fa;
    if (b & 8) chk_ ^= 0x3d4233dd;
    if (b & 16) chk_ ^= 0x2a1462b3;
  }
  // The expansion of a (lower-case) hrp: high bits of each character, 0, low bits.
  void feed_hrp(std::string_view hrp) {
    for (char c : hrp) feed(static_cast<uint8_t>(c) >> 5);
    feed(0);
    for (char c : hrp) feed(static_cast<uint8_t>(c) & 31);
  }
  uint32_t value() const { return chk_; }

 private:
  uint32_t chk_ = 1;
};

bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
char to_lower(char c) { return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

std::string encode_checked(std::string_view hrp, ByteSpan values) {
  assert(bech32_hrp_valid(hrp));
  assert(hrp.size() + 1 + values.size() + kChecksumLength <= kBech32MaxLength);
  Polymod pm;
  pm.feed_hrp(hrp);
  std::string out;
  out.reserve(hrp.size() + 1 + values.size() + kChecksumLength);
  out.append(hrp);
  out.push_back('1');
  for (uint8_t v : values) {
    assert(v < 32);
    pm.feed(v);
    out.push_back(kCharset[v & 31]);
  }
  for (size_t i = 0; i < kChecksumLength; ++i) pm.feed(0);
  const uint32_t checksum = pm.value() ^ kBech32mConst;
  for (size_t i = 0; i < kChecksumLength; ++i)
    out.push_back(kCharset[(checksum >> (5 * (kChecksumLength - 1 - i))) & 31]);
  return out;
}

}  // namespace

bool bech32_hrp_valid(std::string_view hrp) {
  if (hrp.empty() || hrp.size() > kMaxHrpLength) return false;
  for (char c : hrp) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126 || is_upper(c)) return false;
  }
  return true;
}

std::string bech32m_encode_5bit(std::string_view hrp, ByteSpan values) {
  return encode_checked(hrp, values);
}

std::string bech32m_encode(std::string_view hrp, ByteSpan data) {
  // 8-bit bytes to 5-bit groups, most significant bit first, the last group zero-padded.
  Bytes values;
  values.reserve((data.size() * 8 + 4) / 5);
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : data) {
    acc = ((acc << 8) | b) & 0xfff;  // at most 4 + 8 live bits
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      values.push_back(static_cast<uint8_t>((acc >> bits) & 31));
    }
  }
  if (bits > 0) values.push_back(static_cast<uint8_t>((acc << (5 - bits)) & 31));
  return encode_checked(hrp, values);
}

Result<std::pair<std::string, Bytes>> bech32m_decode_5bit(std::string_view s) {
  if (s.size() > kBech32MaxLength)
    return fail("bad-length", "longer than " + std::to_string(kBech32MaxLength) + " characters");
  bool lower = false, upper = false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126) return fail("bad-char", "character outside the printable ASCII range");
    lower |= is_lower(c);
    upper |= is_upper(c);
  }
  if (lower && upper) return fail("mixed-case", "both upper- and lower-case characters");

  const size_t sep = s.rfind('1');
  if (sep == std::string_view::npos) return fail("no-separator", "no '1' separator");
  if (sep == 0) return fail("bad-hrp", "empty human-readable part");
  if (s.size() - sep - 1 < kChecksumLength)
    return fail("bad-length", "data part shorter than the 6-character checksum");

  std::string hrp;
  hrp.reserve(sep);
  for (size_t i = 0; i < sep; ++i) hrp.push_back(to_lower(s[i]));

  Polymod pm;
  pm.feed_hrp(hrp);
  Bytes values;
  values.reserve(s.size() - sep - 1);
  for (size_t i = sep + 1; i < s.size(); ++i) {
    // Printable ASCII was checked above, so the index is < 128.
    const int8_t v = kCharsetRev[static_cast<unsigned char>(to_lower(s[i]))];
    if (v < 0) return fail("bad-char", std::string("'") + s[i] + "' is not a bech32 character");
    pm.feed(static_cast<uint32_t>(v));
    values.push_back(static_cast<uint8_t>(v));
  }
  if (pm.value() != kBech32mConst) {
    if (pm.value() == kBech32Const)
      return fail("bad-checksum", "bech32 (BIP173) checksum; bech32m (BIP350) required");
    return fail("bad-checksum");
  }
  values.resize(values.size() - kChecksumLength);
  return std::pair{std::move(hrp), std::move(values)};
}

Result<std::pair<std::string, Bytes>> bech32m_decode(std::string_view s) {
  auto dec = bech32m_decode_5bit(s);
  if (!dec) return unexpected(std::move(dec.error()));
  const Bytes& values = dec->second;

  // 5-bit groups back to bytes. Canonical padding is at most 4 bits, all zero.
  Bytes data;
  data.reserve(values.size() * 5 / 8);
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t v : values) {
    acc = ((acc << 5) | v) & 0xfff;  // at most 7 + 5 live bits
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      data.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 5) return fail("bad-padding", "more than 4 bits of padding");
  if ((acc & ((1u << bits) - 1)) != 0) return fail("bad-padding", "non-zero padding bits");
  return std::pair{std::move(dec->first), std::move(data)};
}

}  // namespace peerchain::util
