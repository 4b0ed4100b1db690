// Fuzz: the transaction decoder. Whatever decodes must re-encode to the same bytes (one
// encoding per value).
#include <cstdlib>

#include "primitives/transaction.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  peerchain::util::ByteSpan in(data, size);
  auto tx = peerchain::primitives::decode_transaction(in);
  if (tx) {
    auto again = peerchain::primitives::encode_transaction(*tx);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
  }
  return 0;
}
