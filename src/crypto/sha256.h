// crypto/sha256.h — SHA-256, SHA-256d and BIP340-style tagged hashes through OpenSSL.
//
// OpenSSL's EVP_sha256()/SHA256() look the algorithm up on every call (~200 ns). Here the
// incremental Sha256 fetches the algorithm once per process and reuses its EVP_MD_CTX; the
// one-shot functions, TaggedHash and the mining midstate use OpenSSL's low-level SHA256_CTX,
// which neither looks up nor allocates. All run OpenSSL's SHA-NI code where the CPU has it.
#pragma once

#include <cstdint>
#include <string_view>

#include "util/bytes.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace peerchain::crypto {

using Hash256 = util::FixedBytes<32>;
using util::ByteSpan;

// Incremental SHA-256. Not thread-safe; cheap to reuse via reset().
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  Sha256& write(ByteSpan data);
  // Writes the digest and resets the hasher for reuse.
  Hash256 finalize();
  void reset();

 private:
  EVP_MD_CTX* ctx_;
};

Hash256 sha256(ByteSpan data);
// SHA-256(SHA-256(data)).
Hash256 sha256d(ByteSpan data);

// SHA-256(prefix || a) and SHA-256(prefix || a || b): the Merkle tree's leaf and node hashes
// (crypto/merkle.h). The padded blocks are laid out in place and compressed directly, one and
// two compressions, with none of the streaming API's buffering and finalisation (a Merkle root
// of 5,000 ids: 1.04-1.09 ms against 1.21-1.23 ms through SHA256_Init/Update/Final,
// BM_MerkleRoot5000).
Hash256 sha256_prefixed(uint8_t prefix, const Hash256& a);
Hash256 sha256_prefixed(uint8_t prefix, const Hash256& a, const Hash256& b);

// SHA-256(SHA-256(tag) || SHA-256(tag) || data) as in BIP340, for domain separation. The tag
// prefix (one block) is absorbed once at construction; each hash resumes from that state.
// Thread-safe for concurrent const use.
class TaggedHash {
 public:
  explicit TaggedHash(std::string_view tag);
  Hash256 operator()(ByteSpan data) const;
  // Hash of the concatenation of two inputs (avoids a copy).
  Hash256 operator()(ByteSpan a, ByteSpan b) const;

 private:
  alignas(8) unsigned char ctx_[128];  // an OpenSSL SHA256_CTX after the prefix
};

// Double SHA-256 of a message whose first 64 bytes are fixed, for mining: the state after the
// first block (the midstate) is computed once; each hash then costs two compressions.
// Thread-safe for concurrent const use.
class Sha256dMidstate {
 public:
  static constexpr size_t kMaxTail = 55;  // tail + 0x80 + 8-byte length fits one block

  // REQUIRES: first_block.size() == 64
  explicit Sha256dMidstate(ByteSpan first_block);

  // The padded second block for a message of 64 + tail.size() bytes.
  // REQUIRES: tail.size() <= kMaxTail
  static std::array<uint8_t, 64> pad_tail(ByteSpan tail);

  // SHA-256d(first_block || tail) where padded_tail = pad_tail(tail), possibly modified in its
  // first tail.size() bytes (the nonce) since.
  Hash256 hash(const std::array<uint8_t, 64>& padded_tail) const;

 private:
  uint32_t state_[8];
};

}  // namespace peerchain::crypto
