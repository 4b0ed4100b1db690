// primitives/transaction.h — a signed transfer between two accounts.
//
// An account is a secp256k1 x-only public key. The encoding is fixed-size (kEncodedSize bytes,
// docs/spec/encoding.md): chain_id u32 | sender 32 | recipient 32 | amount u64 | fee u64 |
// nonce u64 | signature 64, integers little-endian.
//   signing message = TaggedHash("peerchain/tx-sig")(encoding without the signature)
//   txid            = TaggedHash("peerchain/txid")(full encoding)
// The txid commits to the signature, so "this txid verified" fully describes a signature check
// (the signature cache relies on it).
#pragma once

#include "crypto/schnorr.h"
#include "crypto/sha256.h"
#include "primitives/amount.h"
#include "util/result.h"
#include "util/serialize.h"

namespace peerchain::primitives {

using TxId = crypto::Hash256;
using AccountKey = crypto::XOnlyPubKey;

struct Transaction {
  static constexpr size_t kUnsignedSize = 4 + 32 + 32 + 8 + 8 + 8;
  static constexpr size_t kEncodedSize = kUnsignedSize + 64;

  uint32_t chain_id = 0;
  AccountKey sender;
  AccountKey recipient;
  Amount amount = 0;
  Amount fee = 0;
  uint64_t nonce = 0;
  crypto::SchnorrSig signature;

  // The 32-byte message the sender signs.
  crypto::Hash256 signing_hash() const;
  TxId id() const;
  // Signs in place with `key`. REQUIRES: key.pubkey() == sender.
  void sign(const crypto::SecretKey& key);
  // The same with a key expanded once (many transfers of one sender). REQUIRES: signer.pubkey() == sender.
  void sign(const crypto::Signer& signer);

  bool operator==(const Transaction&) const = default;
};

void write_transaction(util::Writer& w, const Transaction& tx);
util::Bytes encode_transaction(const Transaction& tx);
util::Result<Transaction> read_transaction(util::Reader& r);
// Strict: exactly kEncodedSize bytes.
util::Result<Transaction> decode_transaction(util::ByteSpan in);

// Convenience: a signed transfer.
Transaction make_transfer(uint32_t chain_id, const crypto::SecretKey& from, const AccountKey& to,
                          Amount amount, Amount fee, uint64_t nonce);
Transaction make_transfer(uint32_t chain_id, const crypto::Signer& from, const AccountKey& to, Amount amount,
                          Amount fee, uint64_t nonce);

}  // namespace peerchain::primitives
