#include "net/frame.h"

#include <algorithm>
#include <cstring>

#include "crypto/sha256.h"
#include "net/handshake.h"
#include "net/messages.h"
#include "net/secure.h"
#include "util/serialize.h"

namespace peerchain::net {

const MessageLimits& net_message_limits() {
  static const MessageLimits limits{
      {msg::kHello, static_cast<uint32_t>(kMaxHelloSize)},
      {msg::kHelloAck, 0},
      {msg::kPing, 8},
      {msg::kPong, 8},
      {msg::kDisconnect, static_cast<uint32_t>(kMaxDisconnectPayload)},
      {msg::kGetAddr, 0},
      {msg::kAddr, static_cast<uint32_t>(kMaxAddrPayload)},
      {msg::kKeyExchange, static_cast<uint32_t>(kKeyExchangeSize)},
      {msg::kAuth, static_cast<uint32_t>(kAuthSize)},
  };
  return limits;
}

Bytes encode_frame(const Magic& magic, uint16_t type, ByteSpan payload) {
  auto sum = crypto::sha256d(payload);
  util::Writer w(kFrameHeaderSize + payload.size());
  w.fixed(magic);
  w.u16(type);
  w.u32(static_cast<uint32_t>(payload.size()));
  w.bytes(ByteSpan(sum.data.data(), 4));
  w.bytes(payload);
  return std::move(w).take();
}

const char* token(FrameErrorCode code) {
  switch (code) {
    case FrameErrorCode::kWrongMagic:
      return "magic";
    case FrameErrorCode::kUnknownType:
      return "unknown-type";
    case FrameErrorCode::kOversize:
      return "oversize";
    case FrameErrorCode::kBadChecksum:
      return "checksum";
  }
  return "unknown";
}

util::Result<std::optional<Frame>, FrameError> FrameDecoder::fail(FrameErrorCode code, std::string detail) {
  error_ = FrameError{code, std::move(detail)};
  payload_ = Bytes();
  header_have_ = 0;
  in_payload_ = false;
  return util::unexpected(*error_);
}

util::Result<std::optional<Frame>, FrameError> FrameDecoder::next(ByteSpan& in) {
  if (error_) return util::unexpected(*error_);
  while (!in_payload_) {
    if (in.empty()) return std::optional<Frame>();
    // The magic is checked byte by byte so a stranger is refused at its first wrong byte.
    uint8_t b = in.front();
    if (header_have_ < 4 && b != magic_[header_have_])
      return fail(FrameErrorCode::kWrongMagic, "expected " + magic_.hex() + " at frame start, byte " +
                                                   std::to_string(header_have_) + " is " +
                                                   util::to_hex(ByteSpan(&b, 1)));
    header_[header_have_++] = b;
    in = in.subspan(1);
    if (header_have_ < kFrameHeaderSize) continue;

    type_ = static_cast<uint16_t>(header_[4] | header_[5] << 8);
    length_ = static_cast<uint32_t>(header_[6]) | static_cast<uint32_t>(header_[7]) << 8 |
              static_cast<uint32_t>(header_[8]) << 16 | static_cast<uint32_t>(header_[9]) << 24;
    auto cap = limits_->max_payload(type_);
    if (!cap) return fail(FrameErrorCode::kUnknownType, "type " + std::to_string(type_));
    if (length_ > std::min(*cap, kMaxFramePayload))
      return fail(FrameErrorCode::kOversize, "type " + std::to_string(type_) + " length " +
                                                 std::to_string(length_) + " > cap " +
                                                 std::to_string(std::min(*cap, kMaxFramePayload)));
    in_payload_ = true;
  }

  size_t take = std::min(in.size(), static_cast<size_t>(length_) - payload_.size());
  payload_.insert(payload_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
  in = in.subspan(take);
  if (payload_.size() < length_) return std::optional<Frame>();

  auto sum = crypto::sha256d(payload_);
  if (std::memcmp(sum.data.data(), header_ + 10, 4) != 0)
    return fail(FrameErrorCode::kBadChecksum,
                "type " + std::to_string(type_) + " length " + std::to_string(length_));
  Frame f{type_, std::move(payload_)};
  payload_ = Bytes();
  header_have_ = 0;
  in_payload_ = false;
  return std::optional<Frame>(std::move(f));
}

}  // namespace peerchain::net
