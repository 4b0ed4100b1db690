#include "crypto/random.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace peerchain::crypto {

void random_bytes(std::span<uint8_t> out) {
  uint8_t* p = out.data();
  size_t left = out.size();
  while (left > 0) {
    // Flags 0: the urandom pool, blocking only until it has been initialised at boot.
    ssize_t n = getrandom(p, left, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "peerchain: fatal: getrandom failed: %s\n", std::strerror(errno));
      std::abort();
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

uint64_t random_u64() {
  uint8_t buf[8];
  random_bytes(buf);
  uint64_t v;
  std::memcpy(&v, buf, sizeof v);
  return v;
}

}  // namespace peerchain::crypto
