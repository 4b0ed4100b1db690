#include "storage/schema.h"

#include <algorithm>

namespace peerchain::storage {

JournalBound journal_bound(const primitives::AccountKey& sender, uint64_t nonce) {
  JournalBound k;
  std::copy(sender.begin(), sender.end(), k.begin());
  for (size_t i = 0; i < 8; ++i) k[32 + i] = static_cast<uint8_t>(nonce >> (56 - 8 * i));
  return k;
}

JournalKey journal_key(const primitives::AccountKey& sender, uint64_t nonce, const primitives::TxId& id) {
  JournalKey k;
  const auto bound = journal_bound(sender, nonce);
  std::copy(bound.begin(), bound.end(), k.begin());
  std::copy(id.begin(), id.end(), k.begin() + bound.size());
  return k;
}

util::Bytes encode_schema_version(uint32_t version) {
  util::Writer w;
  w.u32(version);
  return std::move(w).take();
}

util::Bytes encode_index_record(const BlockIndexRecord& r) {
  util::Writer w(primitives::BlockHeader::kEncodedSize + 9);
  primitives::write_header(w, r.header);
  w.u8(r.status);
  w.u64(r.sequence);
  return std::move(w).take();
}

util::Result<BlockIndexRecord> decode_index_record(util::ByteSpan in) {
  util::Reader rd(in);
  BlockIndexRecord r;
  auto h = primitives::read_header(rd);
  if (!h) return util::unexpected(h.error());
  r.header = *h;
  auto st = rd.u8();
  if (!st) return util::unexpected(st.error());
  if (*st & ~(kStatusHaveData | kStatusFailed)) return util::fail("corrupt", "unknown block status bits");
  r.status = *st;
  auto seq = rd.u64();
  if (!seq) return util::unexpected(seq.error());
  r.sequence = *seq;
  if (auto e = rd.expect_end(); !e) return util::unexpected(e.error());
  return r;
}

util::Bytes encode_undo(const UndoRecord& u) {
  util::Writer w;
  w.compact_size(u.accounts.size());
  for (const auto& a : u.accounts) {
    w.fixed(a.key);
    w.u8(a.prior ? 1 : 0);
    primitives::Account acc = a.prior.value_or(primitives::Account{});
    w.u64(acc.balance);
    w.u64(acc.nonce);
  }
  return std::move(w).take();
}

util::Result<UndoRecord> decode_undo(util::ByteSpan in) {
  util::Reader rd(in);
  constexpr size_t kEntry = 32 + 1 + 16;
  auto n = rd.compact_size(in.size() / kEntry);  // the count cannot exceed what the bytes hold
  if (!n) return util::unexpected(n.error());
  UndoRecord u;
  u.accounts.reserve(*n);
  for (uint64_t i = 0; i < *n; ++i) {
    AccountUndo a;
    auto k = rd.fixed<32>();
    auto existed = rd.u8();
    auto bal = rd.u64();
    auto nonce = rd.u64();
    if (!k || !existed || !bal || !nonce) return util::fail("truncated", "undo record truncated");
    if (*existed > 1) return util::fail("corrupt", "undo flag must be 0 or 1");
    a.key = *k;
    if (*existed) a.prior = primitives::Account{*bal, *nonce};
    else if (*bal != 0 || *nonce != 0) return util::fail("corrupt", "absent account with state");
    u.accounts.push_back(a);
  }
  if (auto e = rd.expect_end(); !e) return util::unexpected(e.error());
  return u;
}

util::Bytes encode_tx_location(const TxLocation& l) {
  util::Writer w(36);
  w.fixed(l.block);
  w.u32(l.position);
  return std::move(w).take();
}

util::Result<TxLocation> decode_tx_location(util::ByteSpan in) {
  if (in.size() != 36) return util::fail("corrupt", "tx location must be 36 bytes");
  util::Reader rd(in);
  TxLocation l;
  l.block = *rd.fixed<32>();
  l.position = *rd.u32();
  return l;
}

}  // namespace peerchain::storage
