// chain/miner_inl.h — the nonce search loop (a template, so the stop check inlines).
#pragma once

#include <cstring>

#include "crypto/sha256.h"

namespace peerchain::chain {

template <typename StopFn>
bool Miner::solve(BlockTemplate& tmpl, StopFn&& should_stop, uint64_t& hashes) {
  constexpr size_t kBatch = 4096;
  auto& h = tmpl.block.header;
  auto target_bytes = tmpl.target.to_be();
  for (;;) {
    auto bytes = primitives::encode_header(h);
    crypto::Sha256dMidstate mid(util::ByteSpan(bytes.data(), 64));
    auto padded = crypto::Sha256dMidstate::pad_tail(util::ByteSpan(bytes.data() + 64, bytes.size() - 64));
    constexpr size_t kNonceAt = primitives::BlockHeader::kNonceOffset - 64;
    uint64_t nonce = h.nonce;
    while (nonce <= UINT32_MAX) {
      uint64_t end = std::min<uint64_t>(nonce + kBatch, uint64_t{UINT32_MAX} + 1);
      for (; nonce < end; ++nonce) {
        uint32_t n = static_cast<uint32_t>(nonce);
        padded[kNonceAt] = static_cast<uint8_t>(n);
        padded[kNonceAt + 1] = static_cast<uint8_t>(n >> 8);
        padded[kNonceAt + 2] = static_cast<uint8_t>(n >> 16);
        padded[kNonceAt + 3] = static_cast<uint8_t>(n >> 24);
        auto id = mid.hash(padded);
        if (std::memcmp(id.data.data(), target_bytes.data(), 32) <= 0) {
          hashes += nonce - h.nonce + 1;
          h.nonce = n;
          return true;
        }
      }
      if (should_stop()) {
        hashes += nonce - h.nonce;
        h.nonce = static_cast<uint32_t>(nonce);
        return false;
      }
    }
    // Nonces exhausted: move the time forward and start again.
    hashes += nonce - h.nonce;
    h.time_ms += 1;
    h.nonce = 0;
  }
}

}  // namespace peerchain::chain
