// primitives/block.h — block header and block.
//
// Header encoding (kEncodedSize = 118 bytes, docs/spec/encoding.md), little-endian integers:
//   version u16 | height u32 | prev_id 32 | merkle_root 32 | time_ms u64 | bits u32 |
//   nonce u32 | miner 32
// 118 <= 64 + 55 bytes, so with the first 64 bytes absorbed once (the midstate), each mining
// attempt costs two SHA-256 compressions (docs/adr/0003-header-layout.md). The nonce lies at
// byte 82, inside the second block; the miner refreshes time_ms when it exhausts the nonces.
//
// Block id = SHA-256d(header). Ids are displayed and compared as big-endian numbers: the
// proof of work is id <= target.
//
// Block encoding: header | CompactSize(tx count) | transactions (fixed size each).
#pragma once

#include <span>
#include <vector>

#include "crypto/sha256.h"
#include "primitives/transaction.h"

namespace peerchain::primitives {

using BlockId = crypto::Hash256;

struct BlockHeader {
  static constexpr size_t kEncodedSize = 2 + 4 + 32 + 32 + 8 + 4 + 4 + 32;
  static constexpr size_t kNonceOffset = 2 + 4 + 32 + 32 + 8 + 4;
  static constexpr size_t kTimeOffset = 2 + 4 + 32 + 32;

  uint16_t version = 1;
  uint32_t height = 0;
  BlockId prev_id;
  crypto::Hash256 merkle_root;
  uint64_t time_ms = 0;
  uint32_t bits = 0;   // compact target (consensus/pow.h)
  uint32_t nonce = 0;
  AccountKey miner;    // receives subsidy + fees

  BlockId id() const;
  bool operator==(const BlockHeader&) const = default;
};

using HeaderBytes = std::array<uint8_t, BlockHeader::kEncodedSize>;
HeaderBytes encode_header(const BlockHeader& h);
void write_header(util::Writer& w, const BlockHeader& h);
util::Result<BlockHeader> read_header(util::Reader& r);
util::Result<BlockHeader> decode_header(util::ByteSpan in);

struct Block {
  // Decoding refuses more transactions than this before allocating. Consensus limits
  // (consensus::Params::max_block_txs) are lower.
  static constexpr uint64_t kMaxEncodedTxs = 1 << 17;

  BlockHeader header;
  std::vector<Transaction> txs;

  BlockId id() const { return header.id(); }
  size_t encoded_size() const;
  bool operator==(const Block&) const = default;
};

// Merkle root over the ids of `txs` (crypto/merkle.h).
// Each transaction's id, in order.
std::vector<TxId> transaction_ids(const std::vector<Transaction>& txs);
crypto::Hash256 compute_merkle_root(const std::vector<Transaction>& txs);
crypto::Hash256 compute_merkle_root(std::span<const TxId> ids);

util::Bytes encode_block(const Block& b);
util::Result<Block> decode_block(util::ByteSpan in);

}  // namespace peerchain::primitives
