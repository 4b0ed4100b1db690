// net/frame.h — the peer protocol's frames: encoding, per-type size limits and an incremental
// decoder (docs/spec/p2p.md, "Frames").
//
// A frame is
//   magic[4] | type u16 | length u32 | checksum[4] | payload[length]
// with integers little-endian and checksum = the first 4 bytes of SHA-256d(payload).
//
// Types 0..15 belong to net (handshake, keepalive, disconnect, address gossip); the node layer
// defines types >= 16 and their payloads. Every type has a maximum payload size in a
// MessageLimits table; a type missing from the table is "unknown" and refused.
//
// Nothing here does I/O or keeps global state. Thread-safety: MessageLimits is immutable once
// shared (const methods are safe concurrently); a FrameDecoder belongs to one connection and
// is not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "util/bytes.h"
#include "util/result.h"

namespace peerchain::net {

using util::Bytes;
using util::ByteSpan;

// The 4 bytes every frame starts with; one value per network. Pick bytes that are not ASCII
// letters (e.g. f9 be b4 d9): an inbound connection whose first bytes are not the magic is
// handed to the HTTP server, so the magic must never look like "GET " or "POST".
using Magic = util::FixedBytes<4>;

// Message types reserved by net (0..15). Types 9..15 are reserved for future net use and are
// refused as unknown today.
namespace msg {
inline constexpr uint16_t kHello = 0;           // payload: Hello (net/handshake.h)
inline constexpr uint16_t kHelloAck = 1;        // empty
inline constexpr uint16_t kPing = 2;            // u64 nonce
inline constexpr uint16_t kPong = 3;            // u64 nonce echoed
inline constexpr uint16_t kDisconnect = 4;      // CompactSize length + reason (<= 256 bytes)
inline constexpr uint16_t kGetAddr = 5;         // empty
inline constexpr uint16_t kAddr = 6;            // CompactSize n (<= 1000) + n x (ip[16] | port u16)
inline constexpr uint16_t kKeyExchange = 7;     // KeyExchange (net/secure.h), plaintext
inline constexpr uint16_t kAuth = 8;            // Auth (net/secure.h), the first sealed frame
inline constexpr uint16_t kFirstNodeType = 16;  // node types are >= this
}  // namespace msg

inline constexpr size_t kFrameHeaderSize = 14;
// No type may allow a payload above this (32 MiB), whatever the table says.
inline constexpr uint32_t kMaxFramePayload = 32u << 20;

// Maximum payload size per message type. A type not in the table is unknown.
class MessageLimits {
 public:
  MessageLimits() = default;
  MessageLimits(std::initializer_list<std::pair<const uint16_t, uint32_t>> caps) : caps_(caps) {}

  // Adds or replaces the cap of `type`.
  void set(uint16_t type, uint32_t max_payload) { caps_[type] = max_payload; }
  // nullopt when `type` is unknown.
  std::optional<uint32_t> max_payload(uint16_t type) const {
    auto it = caps_.find(type);
    if (it == caps_.end()) return std::nullopt;
    return it->second;
  }
  const std::map<uint16_t, uint32_t>& entries() const { return caps_; }

 private:
  std::map<uint16_t, uint32_t> caps_;
};

// The caps of net's own types 0..6 (docs/spec/p2p.md, "Reserved types").
const MessageLimits& net_message_limits();

// Builds a frame. Does not check `payload` against any limit (the sender's caller does).
// REQUIRES: payload.size() <= UINT32_MAX
Bytes encode_frame(const Magic& magic, uint16_t type, ByteSpan payload);

struct Frame {
  uint16_t type = 0;
  Bytes payload;
};

// Why a byte stream is not a valid frame sequence. token() is the stable short form used in
// disconnect reasons ("bad-frame: checksum").
enum class FrameErrorCode {
  kWrongMagic,   // "magic"
  kUnknownType,  // "unknown-type"
  kOversize,     // "oversize": length above the type's cap (seen in the header)
  kBadChecksum,  // "checksum"
};
const char* token(FrameErrorCode code);

struct FrameError {
  FrameErrorCode code;
  std::string detail;
  std::string to_string() const { return std::string(token(code)) + ": " + detail; }
};

// Splits a byte stream into frames. Bytes may arrive in chunks of any size.
//
// The header is checked as it arrives: the magic byte by byte, then the type against the table
// and the length against the type's cap as soon as the 14 header bytes are in — before any
// payload byte is buffered. Payload memory grows with the bytes actually received, never with
// the length a header claims. After an error the decoder is poisoned: every later call returns
// the same error.
class FrameDecoder {
 public:
  // `limits` must outlive the decoder.
  FrameDecoder(const Magic& magic, const MessageLimits& limits) : magic_(magic), limits_(&limits) {}

  // Consumes bytes from the front of `in` (advancing it) until a frame completes, an error is
  // found or `in` is exhausted. Returns the frame, nullopt if more bytes are needed, or the
  // error. Call again while `in` is not empty: one call yields at most one frame.
  util::Result<std::optional<Frame>, FrameError> next(ByteSpan& in);

  // Bytes of the frame in progress (header and payload) held so far; 0 after an error.
  size_t buffered() const { return header_have_ + payload_.size(); }

 private:
  util::Result<std::optional<Frame>, FrameError> fail(FrameErrorCode code, std::string detail);

  Magic magic_;
  const MessageLimits* limits_;
  uint8_t header_[kFrameHeaderSize] = {};
  size_t header_have_ = 0;
  bool in_payload_ = false;
  uint16_t type_ = 0;
  uint32_t length_ = 0;
  Bytes payload_;
  std::optional<FrameError> error_;
};

}  // namespace peerchain::net
