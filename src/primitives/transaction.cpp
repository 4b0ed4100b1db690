#include "primitives/transaction.h"

#include <array>
#include <cstring>

namespace peerchain::primitives {

namespace {
const crypto::TaggedHash& sig_hasher() {
  static const crypto::TaggedHash h("peerchain/tx-sig");
  return h;
}
const crypto::TaggedHash& txid_hasher() {
  static const crypto::TaggedHash h("peerchain/txid");
  return h;
}
// The encoding in a stack buffer: ids and signing hashes are taken several times per transfer
// on every node, and a Writer cost a heap allocation and a push_back per byte each time.
using Encoded = std::array<uint8_t, Transaction::kEncodedSize>;
void put_le(uint8_t* p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
Encoded encode_fixed(const Transaction& tx) {
  Encoded b;
  uint8_t* p = b.data();
  put_le(p, tx.chain_id, 4);
  std::memcpy(p + 4, tx.sender.data.data(), 32);
  std::memcpy(p + 36, tx.recipient.data.data(), 32);
  put_le(p + 68, tx.amount, 8);
  put_le(p + 76, tx.fee, 8);
  put_le(p + 84, tx.nonce, 8);
  static_assert(Transaction::kUnsignedSize == 92);
  std::memcpy(p + 92, tx.signature.data.data(), 64);
  return b;
}
}  // namespace

crypto::Hash256 Transaction::signing_hash() const {
  const Encoded b = encode_fixed(*this);
  return sig_hasher()(util::ByteSpan(b.data(), kUnsignedSize));
}

TxId Transaction::id() const {
  const Encoded b = encode_fixed(*this);
  return txid_hasher()(util::ByteSpan(b.data(), b.size()));
}

void Transaction::sign(const crypto::SecretKey& key) { signature = key.sign(signing_hash()); }
void Transaction::sign(const crypto::Signer& signer) { signature = signer.sign(signing_hash()); }

void write_transaction(util::Writer& w, const Transaction& tx) {
  const Encoded b = encode_fixed(tx);
  w.bytes(util::ByteSpan(b.data(), b.size()));
}

util::Bytes encode_transaction(const Transaction& tx) {
  const Encoded b = encode_fixed(tx);
  return util::Bytes(b.begin(), b.end());
}

util::Result<Transaction> read_transaction(util::Reader& r) {
  if (r.remaining() < Transaction::kEncodedSize)
    return util::fail("truncated", "transaction needs " + std::to_string(Transaction::kEncodedSize) +
                                       " bytes, have " + std::to_string(r.remaining()));
  Transaction tx;
  // Lengths were checked above, so none of these reads can fail.
  tx.chain_id = *r.u32();
  tx.sender = *r.fixed<32>();
  tx.recipient = *r.fixed<32>();
  tx.amount = *r.u64();
  tx.fee = *r.u64();
  tx.nonce = *r.u64();
  tx.signature = *r.fixed<64>();
  return tx;
}

util::Result<Transaction> decode_transaction(util::ByteSpan in) {
  util::Reader r(in);
  auto tx = read_transaction(r);
  if (!tx) return tx;
  if (auto end = r.expect_end(); !end) return util::unexpected(end.error());
  return tx;
}

Transaction make_transfer(uint32_t chain_id, const crypto::SecretKey& from, const AccountKey& to,
                          Amount amount, Amount fee, uint64_t nonce) {
  return make_transfer(chain_id, crypto::Signer(from), to, amount, fee, nonce);
}

Transaction make_transfer(uint32_t chain_id, const crypto::Signer& from, const AccountKey& to, Amount amount,
                          Amount fee, uint64_t nonce) {
  Transaction tx;
  tx.chain_id = chain_id;
  tx.sender = from.pubkey();
  tx.recipient = to;
  tx.amount = amount;
  tx.fee = fee;
  tx.nonce = nonce;
  tx.sign(from);
  return tx;
}

}  // namespace peerchain::primitives
