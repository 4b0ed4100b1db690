#include "primitives/transaction.h"

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
void write_unsigned(util::Writer& w, const Transaction& tx) {
  w.u32(tx.chain_id);
  w.fixed(tx.sender);
  w.fixed(tx.recipient);
  w.u64(tx.amount);
  w.u64(tx.fee);
  w.u64(tx.nonce);
}
}  // namespace

crypto::Hash256 Transaction::signing_hash() const {
  util::Writer w(kUnsignedSize);
  write_unsigned(w, *this);
  return sig_hasher()(w.data());
}

TxId Transaction::id() const {
  util::Writer w(kEncodedSize);
  write_transaction(w, *this);
  return txid_hasher()(w.data());
}

void Transaction::sign(const crypto::SecretKey& key) { signature = key.sign(signing_hash()); }
void Transaction::sign(const crypto::Signer& signer) { signature = signer.sign(signing_hash()); }

void write_transaction(util::Writer& w, const Transaction& tx) {
  write_unsigned(w, tx);
  w.fixed(tx.signature);
}

util::Bytes encode_transaction(const Transaction& tx) {
  util::Writer w(Transaction::kEncodedSize);
  write_transaction(w, tx);
  return std::move(w).take();
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
