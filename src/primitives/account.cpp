#include "primitives/account.h"

namespace peerchain::primitives {

util::Bytes encode_account(const Account& a) {
  util::Writer w(Account::kEncodedSize);
  w.u64(a.balance);
  w.u64(a.nonce);
  return std::move(w).take();
}

util::Result<Account> decode_account(util::ByteSpan in) {
  if (in.size() != Account::kEncodedSize)
    return util::fail("bad-length", "account record must be 16 bytes, got " + std::to_string(in.size()));
  util::Reader r(in);
  Account a;
  a.balance = *r.u64();
  a.nonce = *r.u64();
  return a;
}

}  // namespace peerchain::primitives
