// Fuzz: address (bech32m) decoding; what decodes re-encodes to the same (lower-case) string.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>

#include "primitives/address.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  for (const char* hrp : {"pc", "pcdev"}) {
    auto key = peerchain::primitives::decode_address(hrp, s);
    if (key) {
      std::string lower = s;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      if (peerchain::primitives::encode_address(hrp, *key) != lower) std::abort();
    }
  }
  return 0;
}
