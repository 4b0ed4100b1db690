// Sha256dMidstate needs OpenSSL's low-level SHA256_CTX/SHA256_Transform: it is the only OpenSSL
// entry point that runs exactly one compression on a caller-supplied state, which is what makes
// a mining hash cost two compressions. OpenSSL 3 marks that API deprecated (it is still
// exported and still dispatches to the SHA-NI/AVX2 assembly), so silence the deprecation
// warnings for this file only. This must come before any OpenSSL header is included.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "crypto/sha256.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <bit>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace peerchain::crypto {

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "peerchain: fatal OpenSSL error: %s\n", what);
  std::abort();
}

// The SHA-256 implementation, fetched from the default provider once per process and never
// freed (it must outlive every thread_local hasher).
EVP_MD* sha256_md() {
  static EVP_MD* const md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (m == nullptr) die("EVP_MD_fetch(SHA256)");
    return m;
  }();
  return md;
}

constexpr uint32_t kIv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

// Stores `v` big-endian with a single 4-byte store. Not byte by byte: OpenSSL's assembly reads
// the block back with 16-byte loads, and on x86 such a load cannot be forwarded from many
// 1-byte stores; the stall cost ~40 ns (a third of a header hash) when measured.
inline void put_be32(uint8_t* p, uint32_t v) {
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap32(v);
  std::memcpy(p, &v, sizeof v);
}

}  // namespace

// ---- Sha256 -----------------------------------------------------------------------------

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) die("EVP_MD_CTX_new");
  reset();
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::reset() {
  if (EVP_DigestInit_ex2(ctx_, sha256_md(), nullptr) != 1) die("EVP_DigestInit_ex2");
}

Sha256& Sha256::write(ByteSpan data) {
  if (!data.empty() && EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1)
    die("EVP_DigestUpdate");
  return *this;
}

Hash256 Sha256::finalize() {
  Hash256 out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, out.data.data(), &len) != 1 || len != out.size())
    die("EVP_DigestFinal_ex");
  reset();
  return out;
}

// The one-shot functions and TaggedHash use the low-level SHA256_CTX API: it allocates nothing
// and looks nothing up, where OpenSSL 3's EVP re-initialisation frees and re-allocates its
// context on every call (measured: ~40% of the cost of hashing a transaction).
namespace {
Hash256 finish(SHA256_CTX& c) {
  Hash256 out;
  SHA256_Final(out.data.data(), &c);
  return out;
}
}  // namespace

Hash256 sha256(ByteSpan data) {
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, data.data(), data.size());
  return finish(c);
}

Hash256 sha256d(ByteSpan data) {
  Hash256 first = sha256(data);
  return sha256(first.span());
}

// ---- Fixed layouts: the Merkle tree's hashes ----------------------------------------------

namespace {
// The digest of a finished state, big-endian word by word.
Hash256 digest(const SHA256_CTX& c) {
  Hash256 out;
  for (int i = 0; i < 8; ++i) put_be32(out.data.data() + 4 * i, c.h[i]);
  return out;
}

// Terminates a message of `len` bytes whose last block holds its final `used` bytes (used <=
// 55): the 0x80 marker, zeros, and the length in bits in the block's last 8 bytes.
void pad(uint8_t* block, size_t used, uint64_t len) {
  block[used] = 0x80;
  std::memset(block + used + 1, 0, 64 - 8 - used - 1);
  put_be32(block + 56, static_cast<uint32_t>((len * 8) >> 32));
  put_be32(block + 60, static_cast<uint32_t>(len * 8));
}
}  // namespace

Hash256 sha256_prefixed(uint8_t prefix, const Hash256& a) {
  alignas(16) uint8_t block[64];
  block[0] = prefix;
  std::memcpy(block + 1, a.data.data(), 32);
  pad(block, 33, 33);
  SHA256_CTX c;
  std::memcpy(c.h, kIv, sizeof kIv);
  SHA256_Transform(&c, block);
  return digest(c);
}

Hash256 sha256_prefixed(uint8_t prefix, const Hash256& a, const Hash256& b) {
  alignas(16) uint8_t block[64];
  block[0] = prefix;
  std::memcpy(block + 1, a.data.data(), 32);
  std::memcpy(block + 33, b.data.data(), 31);
  SHA256_CTX c;
  std::memcpy(c.h, kIv, sizeof kIv);
  SHA256_Transform(&c, block);
  block[0] = b.data[31];  // the 65th byte opens the second block
  pad(block, 1, 65);
  SHA256_Transform(&c, block);
  return digest(c);
}

// ---- TaggedHash ---------------------------------------------------------------------------

TaggedHash::TaggedHash(std::string_view tag) {
  // SHA256(tag) || SHA256(tag) is exactly one block: keep the state after it (a midstate).
  Hash256 t = sha256(util::as_bytes(tag));
  uint8_t prefix[64];
  std::memcpy(prefix, t.data.data(), 32);
  std::memcpy(prefix + 32, t.data.data(), 32);
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, prefix, sizeof prefix);
  static_assert(sizeof(SHA256_CTX) <= sizeof(ctx_), "TaggedHash::ctx_ too small");
  std::memcpy(ctx_, &c, sizeof c);
}

Hash256 TaggedHash::operator()(ByteSpan data) const {
  SHA256_CTX c;
  std::memcpy(&c, ctx_, sizeof c);
  SHA256_Update(&c, data.data(), data.size());
  return finish(c);
}

Hash256 TaggedHash::operator()(ByteSpan a, ByteSpan b) const {
  SHA256_CTX c;
  std::memcpy(&c, ctx_, sizeof c);
  SHA256_Update(&c, a.data(), a.size());
  SHA256_Update(&c, b.data(), b.size());
  return finish(c);
}

// ---- Sha256dMidstate ----------------------------------------------------------------------

Sha256dMidstate::Sha256dMidstate(ByteSpan first_block) {
  assert(first_block.size() == 64);
  SHA256_CTX c;
  std::memcpy(c.h, kIv, sizeof kIv);
  SHA256_Transform(&c, first_block.data());
  for (int i = 0; i < 8; ++i) state_[i] = c.h[i];
}

std::array<uint8_t, 64> Sha256dMidstate::pad_tail(ByteSpan tail) {
  assert(tail.size() <= kMaxTail);
  std::array<uint8_t, 64> block{};
  if (!tail.empty()) std::memcpy(block.data(), tail.data(), tail.size());
  block[tail.size()] = 0x80;
  const uint64_t bits = (64 + static_cast<uint64_t>(tail.size())) * 8;
  for (int i = 0; i < 8; ++i) block[63 - i] = static_cast<uint8_t>(bits >> (8 * i));
  return block;
}

Hash256 Sha256dMidstate::hash(const std::array<uint8_t, 64>& padded_tail) const {
  // First SHA-256: resume from the midstate and compress the padded tail block.
  SHA256_CTX c;
  std::memcpy(c.h, state_, sizeof state_);
  SHA256_Transform(&c, padded_tail.data());

  // Second SHA-256 over the 32-byte digest: a single padded block, from the IV.
  alignas(16) uint8_t block[64];
  for (int i = 0; i < 8; ++i) put_be32(block + 4 * i, c.h[i]);
  put_be32(block + 32, 0x80000000);  // the 0x80 terminator
  for (int i = 9; i < 15; ++i) put_be32(block + 4 * i, 0);
  put_be32(block + 60, 256);  // bit length of the 32-byte message (high word, 56..59, is 0)
  std::memcpy(c.h, kIv, sizeof kIv);
  SHA256_Transform(&c, block);

  Hash256 out;
  for (int i = 0; i < 8; ++i) put_be32(out.data.data() + 4 * i, c.h[i]);
  return out;
}

}  // namespace peerchain::crypto
