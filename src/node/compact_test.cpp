#include "node/compact.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "consensus/params.h"
#include "node/protocol.h"

using namespace peerchain;
using namespace peerchain::node;
using primitives::Transaction;

namespace {

std::vector<Transaction> some_txs(size_t n) {
  std::vector<Transaction> out;
  auto from = consensus::dev_account_key(1);
  auto to = consensus::dev_account_key(2).pubkey();
  for (size_t i = 0; i < n; ++i) out.push_back(primitives::make_transfer(2, from, to, 10 + i, 1, i));
  return out;
}

primitives::Block block_of(std::vector<Transaction> txs) {
  primitives::Block b;
  b.header.height = 9;
  b.header.time_ms = 123456;
  b.header.bits = 0x207fffff;
  b.txs = std::move(txs);
  b.header.merkle_root = primitives::compute_merkle_root(b.txs);
  return b;
}

std::vector<primitives::TxId> ids_of(const primitives::Block& b) {
  std::vector<primitives::TxId> ids;
  for (const auto& t : b.txs) ids.push_back(t.id());
  return ids;
}

// "compact-vector NAME" blocks of docs/spec/p2p.md, "Compact blocks".
std::map<std::string, std::string> spec_vectors() {
  std::ifstream in(std::string(PEERCHAIN_SPEC_DIR) + "/p2p.md");
  std::map<std::string, std::string> out;
  std::string line, pending;
  while (std::getline(in, line)) {
    if (line.rfind("compact-vector ", 0) == 0) pending = line.substr(15);
    else if (line.empty() || line.rfind("```", 0) == 0) pending.clear();
    else if (!pending.empty()) out[pending] += line;
  }
  return out;
}

}  // namespace

TEST(Compact, SipHashKnownAnswers) {
  // The SipHash paper's key 00..0f: the empty message and 00..0e (its worked example).
  uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
  EXPECT_EQ(siphash24(k0, k1, {}), 0x726fdb47dd0e0e31ULL);
  util::Bytes m;
  for (uint8_t i = 0; i < 15; ++i) m.push_back(i);
  EXPECT_EQ(siphash24(k0, k1, m), 0xa129ca6149be45e5ULL);
}

TEST(Compact, ShortIdMatchesTheSpecVector) {
  auto v = spec_vectors();
  ASSERT_TRUE(v.count("short-id")) << "vector missing from docs/spec/p2p.md";
  // header | salt u64 LE | txid | short id (6 bytes LE)
  auto bytes = *util::from_hex(v["short-id"]);
  ASSERT_EQ(bytes.size(), 118u + 8 + 32 + 6);
  auto h = *primitives::decode_header(util::ByteSpan(bytes).subspan(0, 118));
  uint64_t salt = 0;
  for (int i = 7; i >= 0; --i) salt = (salt << 8) | bytes[118 + i];
  auto txid = primitives::TxId::from_span(util::ByteSpan(bytes).subspan(126, 32));
  uint64_t want = 0;
  for (int i = 5; i >= 0; --i) want = (want << 8) | bytes[158 + i];
  EXPECT_EQ(h.height, 7u);
  EXPECT_EQ(salt, 0x0102030405060708ULL);
  EXPECT_EQ(short_id(short_id_key(h, salt), txid), want);
  EXPECT_EQ(want, 0xa5922a96a575ULL);  // computed independently (Python) when the spec was written
}

TEST(Compact, MessagesRoundTrip) {
  auto b = block_of(some_txs(5));
  auto cb = make_compact_block(b, ids_of(b), 77, {0, 3});
  EXPECT_EQ(cb.short_ids.size(), 3u);
  ASSERT_EQ(cb.prefilled.size(), 2u);
  EXPECT_EQ(cb.prefilled[1].index, 3u);
  auto enc = encode_cmpctblock(cb);
  EXPECT_EQ(enc.size(), 118u + 8 + 1 + 3 * 6 + 1 + 2 * (1 + 156));
  EXPECT_EQ(*decode_cmpctblock(enc, 50'000), cb);

  BlockTxnRequest req{b.id(), {1, 2, 4, 300}};
  EXPECT_EQ(*decode_getblocktxn(encode_getblocktxn(req), 50'000), req);
  BlockTxn txn{b.id(), {b.txs[1], b.txs[2]}};
  EXPECT_EQ(*decode_blocktxn(encode_blocktxn(txn), 50'000), txn);
  EXPECT_TRUE(*decode_sendcmpct(encode_sendcmpct(true)));
  EXPECT_FALSE(*decode_sendcmpct(encode_sendcmpct(false)));
}

TEST(Compact, DecodersRefuseBadInput) {
  auto b = block_of(some_txs(4));
  auto enc = encode_cmpctblock(make_compact_block(b, ids_of(b), 1, {2}));
  // Truncated anywhere, or a byte too many.
  for (size_t cut = 0; cut < enc.size(); cut += 7)
    EXPECT_FALSE(decode_cmpctblock(util::ByteSpan(enc).subspan(0, cut), 50'000)) << cut;
  auto longer = enc;
  longer.push_back(0);
  EXPECT_FALSE(decode_cmpctblock(longer, 50'000));
  // More transactions than the block cap (3 short ids + 1 prefilled > 3).
  EXPECT_FALSE(decode_cmpctblock(enc, 3));
  EXPECT_TRUE(decode_cmpctblock(enc, 4));
  // A prefilled index beyond the block: the delta byte after the short ids.
  auto bad = enc;
  bad[118 + 8 + 1 + 3 * 6 + 1] = 4;  // index 4 of 4 transactions
  auto r = decode_cmpctblock(bad, 50'000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "bad-index");
  // A count claiming 2^32 short ids costs nothing.
  util::Writer w;
  primitives::write_header(w, b.header);
  w.u64(0);
  w.compact_size(uint64_t{1} << 32);
  EXPECT_FALSE(decode_cmpctblock(w.data(), 50'000));
  // getblocktxn: an index at the cap, deltas that overflow it, trailing bytes.
  EXPECT_FALSE(decode_getblocktxn(encode_getblocktxn({b.id(), {50'000}}), 50'000));
  EXPECT_FALSE(decode_getblocktxn(encode_getblocktxn({b.id(), {49'999, 50'000}}), 50'000));
  auto g = encode_getblocktxn({b.id(), {1}});
  g.push_back(0);
  EXPECT_FALSE(decode_getblocktxn(g, 50'000));
  // blocktxn: count not matching its bytes.
  auto t = encode_blocktxn({b.id(), {b.txs[0]}});
  t.pop_back();
  EXPECT_FALSE(decode_blocktxn(t, 50'000));
  EXPECT_FALSE(decode_sendcmpct(util::Bytes{2}));
  EXPECT_FALSE(decode_sendcmpct(util::Bytes{}));
}

TEST(Compact, RebuildsFromThePoolWithoutARoundTrip) {
  auto b = block_of(some_txs(20));
  auto ids = ids_of(b);
  auto pb = PartialBlock::start(make_compact_block(b, ids, 5, {0}));
  ASSERT_TRUE(pb);
  EXPECT_EQ(pb->missing().size(), 19u);
  auto unrelated = block_of(some_txs(25));  // shares the first 20
  for (size_t i = 0; i < unrelated.txs.size(); ++i) pb->offer(unrelated.txs[i], unrelated.txs[i].id());
  ASSERT_TRUE(pb->complete());
  auto got = pb->take();
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, b);
}

TEST(Compact, MissingTransactionsAreFilledAndCheckedAgainstTheirShortIds) {
  auto b = block_of(some_txs(10));
  auto ids = ids_of(b);
  auto cb = make_compact_block(b, ids, 9, {});
  auto pb = PartialBlock::start(cb);
  ASSERT_TRUE(pb);
  for (size_t i = 0; i < 10; ++i)
    if (i % 3 != 0) pb->offer(b.txs[i], ids[i]);
  EXPECT_EQ(pb->missing(), (std::vector<uint32_t>{0, 3, 6, 9}));
  // The wrong count, or the right count with a wrong transaction: refused, nothing filled.
  EXPECT_FALSE(pb->fill({b.txs[0]}));
  EXPECT_FALSE(pb->fill({b.txs[0], b.txs[3], b.txs[6], b.txs[1]}));
  EXPECT_EQ(pb->missing().size(), 4u);
  ASSERT_TRUE(pb->fill({b.txs[0], b.txs[3], b.txs[6], b.txs[9]}));
  auto got = pb->take();
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, b);
}

TEST(Compact, CollisionsNeverGiveAWrongBlock) {
  auto b = block_of(some_txs(6));
  auto ids = ids_of(b);
  // Two sketch entries with one short id: cannot be completed.
  auto cb = make_compact_block(b, ids, 3, {});
  cb.short_ids[4] = cb.short_ids[1];
  auto dup = PartialBlock::start(cb);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, "short-id-collision");

  // Two of our transactions matching one slot: the slot is asked for, not guessed.
  auto pb = PartialBlock::start(make_compact_block(b, ids, 3, {}));
  ASSERT_TRUE(pb);
  for (size_t i = 0; i < 6; ++i) pb->offer(b.txs[i], ids[i]);
  auto other = some_txs(7)[6];
  // Offer a different transaction under slot 2's txid: it hashes to slot 2's short id.
  pb->offer(other, ids[2]);
  EXPECT_EQ(pb->missing(), (std::vector<uint32_t>{2}));
  ASSERT_TRUE(pb->fill({b.txs[2]}));
  EXPECT_EQ(*pb->take(), b);

  // A slot filled wrongly (a collision we could not see: our transaction `other` has slot 0's
  // short id, here planted in the sketch): the Merkle root catches it.
  auto cb2 = make_compact_block(b, ids, 3, {});
  const auto other_id = other.id();
  cb2.short_ids[0] = short_id(short_id_key(cb2.header, cb2.salt), other_id);
  auto pb2 = PartialBlock::start(cb2);
  ASSERT_TRUE(pb2);
  pb2->offer(other, other_id);
  for (size_t i = 1; i < 6; ++i) pb2->offer(b.txs[i], ids[i]);
  ASSERT_TRUE(pb2->complete());
  EXPECT_FALSE(pb2->take());
}

TEST(Compact, CapsFitTheFrameLimitAndTheMessages) {
  auto p = consensus::dev_params();
  auto limits = node_message_limits(p);
  EXPECT_LE(max_cmpctblock_bytes(p.max_block_txs, p.max_block_bytes), size_t{32} << 20);
  // A full block's sketch with every transaction prefilled still fits its cap.
  EXPECT_GE(max_cmpctblock_bytes(p.max_block_txs, p.max_block_bytes),
            118 + 8 + 9 + 9 + p.max_block_txs * (5 + Transaction::kEncodedSize));
  EXPECT_GE(max_blocktxn_bytes(p.max_block_txs), 41 + p.max_block_txs * Transaction::kEncodedSize);
  (void)limits;
}
