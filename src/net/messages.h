// net/messages.h — payloads of net's own messages other than hello (docs/spec/p2p.md).
//
//   ping, pong   u64 nonce
//   disconnect   CompactSize n (<= 256) | reason[n]   (informative text for the peer's log)
//   getaddr      empty
//   addr         CompactSize n (<= 1000) | n x (ip[16] | port u16)
//                 ip is IPv6, with IPv4 as IPv4-mapped (::ffff:a.b.c.d)
//
// Decoders are strict (exact length, no trailing bytes, counts bounded before allocating).
// Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"

namespace peerchain::net {

using util::Bytes;
using util::ByteSpan;

inline constexpr size_t kMaxReasonLength = 256;
inline constexpr size_t kMaxDisconnectPayload = 3 + kMaxReasonLength;
inline constexpr size_t kMaxAddrPerMessage = 1000;
inline constexpr size_t kAddrEntrySize = 18;
inline constexpr size_t kMaxAddrPayload = 3 + kMaxAddrPerMessage * kAddrEntrySize;

// A peer's listening address as gossiped: an IPv6 address (IPv4-mapped for IPv4) and a port.
struct NetAddress {
  std::array<uint8_t, 16> ip{};
  uint16_t port = 0;

  // Parses an IPv4 or IPv6 literal (no host names); nullopt otherwise.
  static std::optional<NetAddress> from_ip(std::string_view ip, uint16_t port);
  // "1.2.3.4" for IPv4-mapped addresses, RFC 5952 text otherwise.
  std::string host() const;
  // "1.2.3.4:port" or "[::1]:port". Canonical: equal addresses give equal strings.
  std::string to_string() const;
  // Port 0, the unspecified address and multicast are never worth dialling.
  bool is_dialable() const;

  auto operator<=>(const NetAddress&) const = default;
};

// "host:port", bracketing IPv6 literals. `host` is printed as given.
std::string format_host_port(std::string_view host, uint16_t port);

Bytes encode_nonce(uint64_t nonce);
util::Result<uint64_t> decode_nonce(ByteSpan payload);

// Truncates `reason` to kMaxReasonLength bytes.
Bytes encode_reason(std::string_view reason);
// Non-printable bytes are replaced by '?': the reason is only ever logged.
util::Result<std::string> decode_reason(ByteSpan payload);

// REQUIRES: addrs.size() <= kMaxAddrPerMessage
Bytes encode_addr(const std::vector<NetAddress>& addrs);
util::Result<std::vector<NetAddress>> decode_addr(ByteSpan payload);

}  // namespace peerchain::net
