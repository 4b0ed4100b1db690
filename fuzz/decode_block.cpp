// Fuzz: the block and header decoders; canonical round trip.
#include <cstdlib>

#include "primitives/block.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  peerchain::util::ByteSpan in(data, size);
  auto b = peerchain::primitives::decode_block(in);
  if (b) {
    auto again = peerchain::primitives::encode_block(*b);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
  }
  auto h = peerchain::primitives::decode_header(in);
  if (h) {
    auto again = peerchain::primitives::encode_header(*h);
    if (!std::equal(again.begin(), again.end(), data)) std::abort();
  }
  return 0;
}
