// net/handshake.h — the hello message and the checks that decide whether a peer belongs to
// our network (docs/spec/p2p.md, "Handshake").
//
// Both sides send a hello first. Each checks the other's with check_hello; if it passes it
// answers with hello_ack, otherwise it sends a disconnect frame carrying the error (so the
// refused side can log why) and closes. A connection is established once a side has both
// sent and received hello_ack.
//
// Pure functions; no state. Thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "net/frame.h"
#include "util/bytes.h"
#include "util/result.h"

namespace peerchain::net {

// The protocol version this code speaks, and the lowest one it accepts from a peer. 2 adds the
// node's batched `txs` message (node/protocol.h), sent only to peers that announce 2 or more.
inline constexpr uint32_t kProtocolVersion = 2;
inline constexpr uint32_t kMinProtocolVersion = 1;

inline constexpr size_t kMaxUserAgentLength = 64;
// 4 + 4 + 4 + 32 + 8 + 2 + 4 + CompactSize(64) + 64
inline constexpr size_t kMaxHelloSize = 4 + 4 + 4 + 32 + 8 + 2 + 4 + 1 + kMaxUserAgentLength;

struct Hello {
  uint32_t protocol_version = kProtocolVersion;
  Magic magic;                      // must equal the frame magic's network
  uint32_t chain_id = 0;            // e.g. 1 main, 2 dev
  util::FixedBytes<32> genesis_id;  // id of block 0
  uint64_t node_nonce = 0;          // random per process; detects connecting to ourselves
  uint16_t listen_port = 0;         // the port this node accepts peers on; 0 = not listening
  uint32_t best_height = 0;         // informative: height of the sender's best chain
  std::string user_agent;           // <= 64 bytes, printable ASCII (0x20..0x7e)

  bool operator==(const Hello&) const = default;
};

// Canonical encoding (docs/spec/p2p.md):
//   protocol_version u32 | magic[4] | chain_id u32 | genesis_id[32] | node_nonce u64 |
//   listen_port u16 | best_height u32 | CompactSize n (<= 64) | user_agent[n]
// REQUIRES: h.user_agent.size() <= kMaxUserAgentLength
Bytes encode_hello(const Hello& h);

// Strict: refuses truncation, trailing bytes, a non-minimal or oversize length and a
// non-printable user agent. Error codes: those of util::Reader, "bad-user-agent".
util::Result<Hello> decode_hello(ByteSpan payload);

// Decides whether `remote` may join `local`'s network. Error codes (stable; they become the
// disconnect reason sent to the peer):
//   "wrong-network"   magic or chain_id differ
//   "wrong-genesis"   genesis_id differs
//   "self-connection" remote.node_nonce == local.node_nonce (we dialled ourselves)
//   "old-version"     remote.protocol_version < kMinProtocolVersion
util::Status check_hello(const Hello& local, const Hello& remote);

// True if every byte of `s` is printable ASCII.
bool is_printable_ascii(std::string_view s);

}  // namespace peerchain::net
