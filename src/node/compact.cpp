#include "node/compact.h"

#include <bit>
#include <cassert>
#include <cstring>

#include "crypto/sha256.h"
#include "util/serialize.h"

namespace peerchain::node {

using primitives::Transaction;

namespace {

inline uint64_t load_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct SipState {
  uint64_t v0, v1, v2, v3;
  void round() {
    v0 += v1; v1 = std::rotl(v1, 13); v1 ^= v0; v0 = std::rotl(v0, 32);
    v2 += v3; v3 = std::rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = std::rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = std::rotl(v1, 17); v1 ^= v2; v2 = std::rotl(v2, 32);
  }
};

// Decodes BIP152 index deltas: `n` of them, each index < limit, strictly increasing.
util::Result<std::vector<uint32_t>> read_indexes(util::Reader& r, uint64_t n, size_t limit) {
  std::vector<uint32_t> out;
  out.reserve(static_cast<size_t>(n));
  uint64_t next = 0;  // the smallest index the next delta can give
  for (uint64_t i = 0; i < n; ++i) {
    auto d = r.compact_size(limit);
    if (!d) return util::unexpected(d.error());
    uint64_t idx = next + *d;
    if (idx >= limit) return util::fail("bad-index", "index " + std::to_string(idx) + " beyond " + std::to_string(limit));
    out.push_back(static_cast<uint32_t>(idx));
    next = idx + 1;
  }
  return out;
}

void write_indexes(util::Writer& w, const std::vector<uint32_t>& idx) {
  w.compact_size(idx.size());
  uint64_t next = 0;
  for (uint32_t i : idx) {
    assert(i >= next);
    w.compact_size(i - next);
    next = uint64_t{i} + 1;
  }
}

}  // namespace

uint64_t siphash24(uint64_t k0, uint64_t k1, util::ByteSpan data) {
  SipState s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL, k0 ^ 0x6c7967656e657261ULL,
             k1 ^ 0x7465646279746573ULL};
  const size_t n = data.size();
  const uint8_t* p = data.data();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t m = load_le64(p + i);
    s.v3 ^= m;
    s.round();
    s.round();
    s.v0 ^= m;
  }
  uint64_t last = static_cast<uint64_t>(n & 0xff) << 56;
  for (size_t j = 0; i + j < n; ++j) last |= static_cast<uint64_t>(p[i + j]) << (8 * j);
  s.v3 ^= last;
  s.round();
  s.round();
  s.v0 ^= last;
  s.v2 ^= 0xff;
  for (int r = 0; r < 4; ++r) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

ShortIdKey short_id_key(const primitives::BlockHeader& header, uint64_t salt) {
  util::Writer w(primitives::BlockHeader::kEncodedSize + 8);
  primitives::write_header(w, header);
  w.u64(salt);
  auto h = crypto::sha256(w.data());
  return {load_le64(h.data.data()), load_le64(h.data.data() + 8)};
}

uint64_t short_id(const ShortIdKey& key, const primitives::TxId& id) {
  return siphash24(key.k0, key.k1, id.span()) & kShortIdMask;
}

CompactBlock make_compact_block(const primitives::Block& block, const std::vector<primitives::TxId>& ids,
                                uint64_t salt, const std::vector<uint32_t>& prefill) {
  assert(ids.size() == block.txs.size());
  CompactBlock cb;
  cb.header = block.header;
  cb.salt = salt;
  const auto key = short_id_key(block.header, salt);
  cb.short_ids.reserve(block.txs.size() - prefill.size());
  size_t p = 0;
  for (uint32_t i = 0; i < block.txs.size(); ++i) {
    if (p < prefill.size() && prefill[p] == i) {
      cb.prefilled.push_back({i, block.txs[i]});
      ++p;
    } else {
      cb.short_ids.push_back(short_id(key, ids[i]));
    }
  }
  assert(p == prefill.size());
  return cb;
}

size_t max_cmpctblock_bytes(size_t max_block_txs, size_t max_block_bytes) {
  // Every transaction as a short id, or prefilled with a delta of at most 5 bytes: the block's
  // own cap bounds the prefilled ones.
  return primitives::BlockHeader::kEncodedSize + 8 + 9 + max_block_txs * (kShortIdBytes + 5) + 9 + max_block_bytes;
}
size_t max_getblocktxn_bytes(size_t max_block_txs) { return 32 + 9 + max_block_txs * 5; }
size_t max_blocktxn_bytes(size_t max_block_txs) { return 32 + 9 + max_block_txs * Transaction::kEncodedSize; }

util::Bytes encode_sendcmpct(bool high_bandwidth) { return util::Bytes{static_cast<uint8_t>(high_bandwidth ? 1 : 0)}; }

util::Result<bool> decode_sendcmpct(util::ByteSpan payload) {
  if (payload.size() != 1 || payload[0] > 1) return util::fail("bad-sendcmpct", "expected one byte, 0 or 1");
  return payload[0] == 1;
}

util::Bytes encode_cmpctblock(const CompactBlock& cb) {
  util::Writer w(primitives::BlockHeader::kEncodedSize + 8 + 18 + cb.short_ids.size() * kShortIdBytes +
                 cb.prefilled.size() * (Transaction::kEncodedSize + 3));
  primitives::write_header(w, cb.header);
  w.u64(cb.salt);
  w.compact_size(cb.short_ids.size());
  for (uint64_t s : cb.short_ids)
    for (size_t b = 0; b < kShortIdBytes; ++b) w.u8(static_cast<uint8_t>(s >> (8 * b)));
  w.compact_size(cb.prefilled.size());
  uint64_t next = 0;
  for (const auto& p : cb.prefilled) {
    assert(p.index >= next);
    w.compact_size(p.index - next);
    next = uint64_t{p.index} + 1;
    primitives::write_transaction(w, p.tx);
  }
  return std::move(w).take();
}

util::Result<CompactBlock> decode_cmpctblock(util::ByteSpan payload, size_t max_txs) {
  util::Reader r(payload);
  CompactBlock cb;
  auto h = primitives::read_header(r);
  if (!h) return util::unexpected(h.error());
  cb.header = *h;
  auto salt = r.u64();
  if (!salt) return util::unexpected(salt.error());
  cb.salt = *salt;
  auto n = r.compact_size(max_txs);
  if (!n) return util::unexpected(n.error());
  if (r.remaining() < *n * kShortIdBytes) return util::fail("bad-length", "short ids run past the payload");
  cb.short_ids.reserve(static_cast<size_t>(*n));
  for (uint64_t i = 0; i < *n; ++i) {
    auto b = *r.bytes(kShortIdBytes);
    uint64_t s = 0;
    for (size_t k = kShortIdBytes; k-- > 0;) s = (s << 8) | b[k];
    cb.short_ids.push_back(s);
  }
  auto p = r.compact_size(max_txs - *n);
  if (!p) return util::unexpected(p.error());
  // Each prefilled entry is at least a one-byte delta and a transaction.
  if (r.remaining() < *p * (1 + Transaction::kEncodedSize))
    return util::fail("bad-length", "prefilled transactions run past the payload");
  const size_t total = static_cast<size_t>(*n + *p);
  cb.prefilled.reserve(static_cast<size_t>(*p));
  uint64_t next = 0;
  for (uint64_t i = 0; i < *p; ++i) {
    auto d = r.compact_size(total);
    if (!d) return util::unexpected(d.error());
    uint64_t idx = next + *d;
    if (idx >= total) return util::fail("bad-index", "prefilled index " + std::to_string(idx) + " beyond the block's " +
                                                         std::to_string(total) + " transactions");
    auto tx = primitives::read_transaction(r);
    if (!tx) return util::unexpected(tx.error());
    cb.prefilled.push_back({static_cast<uint32_t>(idx), std::move(*tx)});
    next = idx + 1;
  }
  if (auto end = r.expect_end(); !end) return util::unexpected(end.error());
  return cb;
}

util::Bytes encode_getblocktxn(const BlockTxnRequest& req) {
  util::Writer w(32 + 9 + req.indexes.size() * 3);
  w.fixed(req.block);
  write_indexes(w, req.indexes);
  return std::move(w).take();
}

util::Result<BlockTxnRequest> decode_getblocktxn(util::ByteSpan payload, size_t max_txs) {
  util::Reader r(payload);
  BlockTxnRequest req;
  auto id = r.fixed<32>();
  if (!id) return util::unexpected(id.error());
  req.block = *id;
  auto n = r.compact_size(max_txs);
  if (!n) return util::unexpected(n.error());
  if (r.remaining() < *n) return util::fail("bad-length", "indexes run past the payload");
  auto idx = read_indexes(r, *n, max_txs);
  if (!idx) return util::unexpected(idx.error());
  req.indexes = std::move(*idx);
  if (auto end = r.expect_end(); !end) return util::unexpected(end.error());
  return req;
}

util::Bytes encode_blocktxn(const BlockTxn& msg) {
  util::Writer w(32 + 9 + msg.txs.size() * Transaction::kEncodedSize);
  w.fixed(msg.block);
  w.compact_size(msg.txs.size());
  for (const auto& tx : msg.txs) primitives::write_transaction(w, tx);
  return std::move(w).take();
}

util::Result<BlockTxn> decode_blocktxn(util::ByteSpan payload, size_t max_txs) {
  util::Reader r(payload);
  BlockTxn out;
  auto id = r.fixed<32>();
  if (!id) return util::unexpected(id.error());
  out.block = *id;
  auto n = r.compact_size(max_txs);
  if (!n) return util::unexpected(n.error());
  if (r.remaining() != *n * Transaction::kEncodedSize)
    return util::fail("bad-length", "transaction count does not match its bytes");
  out.txs.reserve(static_cast<size_t>(*n));
  for (uint64_t i = 0; i < *n; ++i) {
    auto tx = primitives::read_transaction(r);
    if (!tx) return util::unexpected(tx.error());
    out.txs.push_back(std::move(*tx));
  }
  return out;
}

util::Result<PartialBlock> PartialBlock::start(const CompactBlock& cb) {
  PartialBlock pb;
  pb.header_ = cb.header;
  pb.key_ = short_id_key(cb.header, cb.salt);
  const size_t total = cb.tx_count();
  pb.slots_.resize(total);
  pb.ids_.resize(total);
  pb.sid_.assign(total, 0);
  pb.ambiguous_.assign(total, false);
  for (const auto& p : cb.prefilled) {
    // The decoder guarantees increasing indexes < total.
    pb.slots_[p.index] = p.tx;
    pb.ids_[p.index] = p.tx.id();
    ++pb.filled_;
  }
  pb.index_of_.reserve(cb.short_ids.size());
  size_t k = 0;
  for (uint32_t i = 0; i < total; ++i) {
    if (pb.slots_[i]) continue;
    const uint64_t sid = cb.short_ids[k++];
    pb.sid_[i] = sid;
    if (!pb.index_of_.emplace(sid, i).second)
      return util::fail("short-id-collision", "two transactions of the sketch share short id " + std::to_string(sid));
  }
  return pb;
}

void PartialBlock::offer(const Transaction& tx, const primitives::TxId& id) { offer(tx, id, short_id(key_, id)); }

void PartialBlock::offer(const Transaction& tx, const primitives::TxId& id, uint64_t sid) {
  auto it = index_of_.find(sid);
  if (it == index_of_.end()) return;
  const uint32_t i = it->second;
  if (ambiguous_[i]) return;
  if (slots_[i]) {
    if (*slots_[i] == tx) return;  // the same transaction offered twice
    // Two of our transactions share the slot's short id: we cannot tell which is meant.
    slots_[i].reset();
    --filled_;
    ambiguous_[i] = true;
    return;
  }
  slots_[i] = tx;
  ids_[i] = id;
  ++filled_;
}

std::vector<uint32_t> PartialBlock::missing() const {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < slots_.size(); ++i)
    if (!slots_[i]) out.push_back(i);
  return out;
}

util::Status PartialBlock::fill(const std::vector<Transaction>& txs) {
  auto miss = missing();
  if (txs.size() != miss.size())
    return util::fail("bad-blocktxn", std::to_string(txs.size()) + " transactions for " + std::to_string(miss.size()) +
                                          " requested");
  std::vector<primitives::TxId> got;
  got.reserve(txs.size());
  for (size_t k = 0; k < miss.size(); ++k) {
    got.push_back(txs[k].id());
    if (short_id(key_, got.back()) != sid_[miss[k]])
      return util::fail("bad-blocktxn", "transaction " + std::to_string(k) + " does not match its short id");
  }
  for (size_t k = 0; k < miss.size(); ++k) {
    slots_[miss[k]] = txs[k];
    ids_[miss[k]] = got[k];
  }
  filled_ = slots_.size();
  return {};
}

std::optional<primitives::Block> PartialBlock::take(std::vector<primitives::TxId>* ids) {
  assert(complete());
  primitives::Block b;
  b.header = header_;
  b.txs.reserve(slots_.size());
  for (auto& s : slots_) b.txs.push_back(std::move(*s));
  slots_.clear();
  filled_ = 0;
  if (primitives::compute_merkle_root(ids_) != b.header.merkle_root) return std::nullopt;
  if (ids) *ids = std::move(ids_);
  ids_.clear();
  return b;
}

}  // namespace peerchain::node
