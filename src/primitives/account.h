// primitives/account.h — account state and its encoding.
//
// Encoding: balance u64 | nonce u64 (16 bytes). An account that was never touched has
// balance 0 and nonce 0 and is not stored.
#pragma once

#include "primitives/amount.h"
#include "util/result.h"
#include "util/serialize.h"

namespace peerchain::primitives {

struct Account {
  static constexpr size_t kEncodedSize = 16;
  Amount balance = 0;
  uint64_t nonce = 0;  // the nonce the account's next transaction must carry

  bool is_empty() const { return balance == 0 && nonce == 0; }
  bool operator==(const Account&) const = default;
};

util::Bytes encode_account(const Account& a);
util::Result<Account> decode_account(util::ByteSpan in);

}  // namespace peerchain::primitives
