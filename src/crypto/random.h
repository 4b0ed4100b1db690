// crypto/random.h — randomness from the operating system's CSPRNG (getrandom(2)).
//
// Suitable for keys, nonces and hash-table salts. Never fails: if the kernel CSPRNG cannot
// deliver (which only happens on a broken system), the process aborts with a message rather
// than continuing with weak or no randomness. Thread-safe.
#pragma once

#include <cstdint>
#include <span>

namespace peerchain::crypto {

// Fills `out` entirely with cryptographically secure random bytes.
void random_bytes(std::span<uint8_t> out);

// A uniformly random 64-bit value from the same source.
uint64_t random_u64();

}  // namespace peerchain::crypto
