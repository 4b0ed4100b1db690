#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "primitives/account.h"
#include "primitives/address.h"
#include "primitives/block.h"

using namespace peerchain;
using namespace peerchain::primitives;

namespace {

crypto::SecretKey key_from(uint8_t seed) {
  util::FixedBytes<32> b;
  b[31] = seed == 0 ? 1 : seed;
  return *crypto::SecretKey::from_bytes(b);
}

Transaction sample_tx(uint8_t seed = 1, uint64_t nonce = 0) {
  return make_transfer(2, key_from(seed), key_from(static_cast<uint8_t>(seed + 1)).pubkey(), 500, 1, nonce);
}

template <size_t N>
util::FixedBytes<N> gen_fixed() {
  auto v = *rc::gen::container<std::vector<uint8_t>>(N, rc::gen::arbitrary<uint8_t>());
  return util::FixedBytes<N>::from_span(v);
}

Transaction gen_tx() {
  Transaction tx;
  tx.chain_id = *rc::gen::arbitrary<uint32_t>();
  tx.sender = gen_fixed<32>();
  tx.recipient = gen_fixed<32>();
  tx.amount = *rc::gen::arbitrary<uint64_t>();
  tx.fee = *rc::gen::arbitrary<uint64_t>();
  tx.nonce = *rc::gen::arbitrary<uint64_t>();
  tx.signature = gen_fixed<64>();
  return tx;
}

BlockHeader gen_header() {
  BlockHeader h;
  h.version = *rc::gen::arbitrary<uint16_t>();
  h.height = *rc::gen::arbitrary<uint32_t>();
  h.prev_id = gen_fixed<32>();
  h.merkle_root = gen_fixed<32>();
  h.time_ms = *rc::gen::arbitrary<uint64_t>();
  h.bits = *rc::gen::arbitrary<uint32_t>();
  h.nonce = *rc::gen::arbitrary<uint32_t>();
  h.miner = gen_fixed<32>();
  return h;
}

}  // namespace

TEST(Transaction, EncodingIsFixedSize) {
  auto tx = sample_tx();
  auto bytes = encode_transaction(tx);
  EXPECT_EQ(bytes.size(), Transaction::kEncodedSize);
  EXPECT_EQ(Transaction::kEncodedSize, 156u);
  auto back = decode_transaction(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, tx);
}

TEST(Transaction, EveryOtherLengthRefused) {
  auto bytes = encode_transaction(sample_tx());
  for (size_t n = 0; n < bytes.size() + 10; ++n) {
    if (n == bytes.size()) continue;
    util::Bytes b(n, 0);
    std::copy_n(bytes.begin(), std::min(n, bytes.size()), b.begin());
    EXPECT_FALSE(decode_transaction(b).ok()) << n;
  }
}

TEST(Transaction, SignatureCoversEveryField) {
  auto tx = sample_tx();
  auto sender = tx.sender;
  EXPECT_TRUE(crypto::schnorr_verify(sender, tx.signing_hash().span(), tx.signature));
  auto mutate = [&](auto fn) {
    Transaction t = tx;
    fn(t);
    return crypto::schnorr_verify(t.sender, t.signing_hash().span(), t.signature);
  };
  EXPECT_FALSE(mutate([](Transaction& t) { t.chain_id ^= 1; }));
  EXPECT_FALSE(mutate([](Transaction& t) { t.recipient[0] ^= 1; }));
  EXPECT_FALSE(mutate([](Transaction& t) { t.amount += 1; }));
  EXPECT_FALSE(mutate([](Transaction& t) { t.fee += 1; }));
  EXPECT_FALSE(mutate([](Transaction& t) { t.nonce += 1; }));
  EXPECT_FALSE(mutate([](Transaction& t) { t.signature[5] ^= 1; }));
}

TEST(Transaction, IdCommitsToSignature) {
  auto a = sample_tx();
  auto b = a;
  b.signature = key_from(1).sign(a.signing_hash(), util::FixedBytes<32>::from_span(std::vector<uint8_t>(32, 7)));
  EXPECT_NE(a.id(), b.id());
}

RC_GTEST_PROP(Transaction, RoundTrip, ()) {
  auto tx = gen_tx();
  auto back = decode_transaction(encode_transaction(tx));
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == tx);
}

TEST(BlockHeader, LayoutFitsTwoCompressions) {
  EXPECT_EQ(BlockHeader::kEncodedSize, 118u);
  EXPECT_LE(BlockHeader::kEncodedSize, 64u + crypto::Sha256dMidstate::kMaxTail);
  EXPECT_GE(BlockHeader::kNonceOffset, 64u);
  BlockHeader h;
  h.nonce = 0x04030201;
  auto bytes = encode_header(h);
  EXPECT_EQ(bytes[BlockHeader::kNonceOffset], 1);
  EXPECT_EQ(bytes[BlockHeader::kNonceOffset + 3], 4);
}

RC_GTEST_PROP(BlockHeader, RoundTrip, ()) {
  auto h = gen_header();
  auto bytes = encode_header(h);
  auto back = decode_header(bytes);
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == h);
  RC_ASSERT(back->id() == h.id());
}

RC_GTEST_PROP(Block, RoundTrip, ()) {
  Block b;
  b.header = gen_header();
  auto n = *rc::gen::inRange<size_t>(0, 20);
  for (size_t i = 0; i < n; ++i) b.txs.push_back(gen_tx());
  auto bytes = encode_block(b);
  RC_ASSERT(bytes.size() == b.encoded_size());
  auto back = decode_block(bytes);
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == b);
}

TEST(Block, StrictDecoding) {
  Block b;
  b.txs = {sample_tx(1), sample_tx(3)};
  b.header.merkle_root = compute_merkle_root(b.txs);
  auto bytes = encode_block(b);
  // Truncated anywhere.
  for (size_t n = 0; n < bytes.size(); n += 7) {
    util::Bytes cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
    EXPECT_FALSE(decode_block(cut).ok()) << n;
  }
  // Trailing byte.
  auto extra = bytes;
  extra.push_back(0);
  EXPECT_EQ(decode_block(extra).error().code, "trailing-bytes");
  // Count says 3 but two transactions follow.
  auto lie = bytes;
  lie[BlockHeader::kEncodedSize] = 3;
  EXPECT_EQ(decode_block(lie).error().code, "truncated");
  // Non-canonical count (0xfd 0x02 0x00 for 2).
  util::Bytes noncanon(bytes.begin(), bytes.begin() + BlockHeader::kEncodedSize);
  noncanon.insert(noncanon.end(), {0xfd, 0x02, 0x00});
  noncanon.insert(noncanon.end(), bytes.begin() + BlockHeader::kEncodedSize + 1, bytes.end());
  EXPECT_EQ(decode_block(noncanon).error().code, "non-canonical");
  // A huge count is refused before anything is allocated.
  util::Bytes huge(bytes.begin(), bytes.begin() + BlockHeader::kEncodedSize);
  huge.insert(huge.end(), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f});
  EXPECT_EQ(decode_block(huge).error().code, "too-large");
}

TEST(Account, EncodingStrict) {
  Account a{12345, 7};
  auto bytes = encode_account(a);
  EXPECT_EQ(bytes.size(), 16u);
  EXPECT_EQ(*decode_account(bytes), a);
  bytes.push_back(0);
  EXPECT_FALSE(decode_account(bytes).ok());
}

TEST(Address, RoundTripAndChecksum) {
  auto key = key_from(9).pubkey();
  auto addr = encode_address("pcdev", key);
  EXPECT_EQ(addr.rfind("pcdev1", 0), 0u);
  auto back = decode_address("pcdev", addr);
  ASSERT_TRUE(back.ok()) << back.error().to_string();
  EXPECT_EQ(*back, key);
  // Wrong network.
  EXPECT_EQ(decode_address("pc", addr).error().code, "wrong-network");
  // Every single-character typo is refused.
  const std::string charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
  for (size_t i = 6; i < addr.size(); ++i) {
    for (char c : charset) {
      if (c == addr[i]) continue;
      std::string typo = addr;
      typo[i] = c;
      EXPECT_FALSE(decode_address("pcdev", typo).ok()) << typo;
    }
  }
  // Upper case is accepted as a whole; mixed case is not.
  std::string upper = addr;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_TRUE(decode_address("pcdev", upper).ok());
  std::string mixed = addr;
  mixed[8] = static_cast<char>(std::toupper(static_cast<unsigned char>(mixed[8])));
  if (mixed != addr) {
    EXPECT_FALSE(decode_address("pcdev", mixed).ok());
  }
}

TEST(Address, KeyOffCurveRefused) {
  // x = 5 is not on secp256k1 (5^3 + 7 = 132 is a non-residue... checked by the library).
  util::FixedBytes<32> bad;
  bad[31] = 5;
  if (!crypto::is_valid_pubkey(bad)) {
    EXPECT_FALSE(decode_address("pc", encode_address("pc", bad)).ok());
  }
}

// The vectors in docs/spec/encoding.md: a "vector NAME" line, then the value (hex wrapped over
// lines) up to a blank line or a code fence. The test rebuilds the same objects and compares.
namespace {
std::map<std::string, std::string> spec_vectors() {
  std::ifstream in(std::string(PEERCHAIN_SPEC_DIR) + "/encoding.md");
  std::map<std::string, std::string> out;
  std::string line, pending;
  while (std::getline(in, line)) {
    if (line.rfind("vector ", 0) == 0) {
      pending = line.substr(7);
    } else if (line.empty() || line.rfind("```", 0) == 0) {
      pending.clear();
    } else if (!pending.empty()) {
      out[pending] += line;  // long values wrap over several lines
    }
  }
  return out;
}
}  // namespace

TEST(Spec, EncodingVectorsMatch) {
  auto v = spec_vectors();
  ASSERT_FALSE(v.empty()) << "no vectors found in docs/spec/encoding.md";
  // Transaction: dev-style keys from fixed secrets, deterministic (aux = 0) signature.
  Transaction tx = make_transfer(2, key_from(1), key_from(2).pubkey(), 500, 1, 7);
  ASSERT_TRUE(v.count("transaction"));
  EXPECT_EQ(util::to_hex(encode_transaction(tx)), v["transaction"]);
  EXPECT_EQ(tx.signing_hash().hex(), v["transaction-signing-hash"]);
  EXPECT_EQ(tx.id().hex(), v["transaction-id"]);
  BlockHeader h;
  h.version = 1;
  h.height = 1;
  h.prev_id = crypto::sha256(util::as_bytes("prev"));
  h.merkle_root = compute_merkle_root(std::vector<Transaction>{tx});
  h.time_ms = 1793491201000ULL;
  h.bits = 0x1f00a7c5;
  h.nonce = 42;
  h.miner = key_from(3).pubkey();
  EXPECT_EQ(util::to_hex(encode_header(h)), v["header"]);
  EXPECT_EQ(h.id().hex(), v["header-id"]);
  Block b{h, {tx}};
  EXPECT_EQ(util::to_hex(encode_block(b)), v["block"]);
  EXPECT_EQ(util::to_hex(encode_account(Account{1000, 3})), v["account"]);
  EXPECT_EQ(encode_address("pcdev", key_from(2).pubkey()), v["address"]);
}
