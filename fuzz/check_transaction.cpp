// Fuzz: the transaction validators (shape, signature, application to an account pair).
// Invariant: application never creates money and never moves it on failure.
#include <cstdlib>

#include "consensus/checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace peerchain;
  static const consensus::Params params = consensus::dev_params();
  if (size < primitives::Transaction::kEncodedSize + 32) return 0;
  auto tx = primitives::decode_transaction(util::ByteSpan(data, primitives::Transaction::kEncodedSize));
  if (!tx) std::abort();  // exactly kEncodedSize bytes always decode
  util::Reader r(util::ByteSpan(data + primitives::Transaction::kEncodedSize, 32));
  primitives::Account s{*r.u64() % (primitives::kMaxMoney + 1), *r.u64()};
  primitives::Account d{*r.u64() % (primitives::kMaxMoney + 1), *r.u64()};
  (void)consensus::check_tx_signature(*tx);
  if (!consensus::check_tx_shape(params, *tx)) return 0;
  auto s0 = s, d0 = d;
  auto ok = consensus::apply_tx(*tx, s, d);
  if (!ok) {
    if (!(s == s0 && d == d0)) std::abort();
    return 0;
  }
  if (s.balance + d.balance + tx->fee != s0.balance + d0.balance) std::abort();
  if (s.nonce != s0.nonce + 1) std::abort();
  return 0;
}
