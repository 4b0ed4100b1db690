// Fuzz: the peer protocol's decoders: the incremental frame decoder (fed in random chunk
// sizes), hello, addr, reason, and the node messages (inv, locator, txs, headers). Whatever a peer
// sends must yield frames or a typed error, never a crash or an allocation beyond the caps.
#include <cstdlib>

#include "net/frame.h"
#include "net/handshake.h"
#include "net/messages.h"
#include "node/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace peerchain;
  static const consensus::Params params = consensus::dev_params();
  static const net::MessageLimits limits = [] {
    auto l = node::node_message_limits(params);
    for (const auto& [t, cap] : net::net_message_limits().entries()) l.set(t, cap);
    return l;
  }();
  util::ByteSpan in(data, size);
  // Frames: the first byte picks a chunk size so splits vary.
  if (size > 0) {
    net::FrameDecoder dec(net::Magic::from_span(params.magic), limits);
    size_t chunk = 1 + data[0] % 64;
    util::ByteSpan rest = in.subspan(1);
    while (!rest.empty()) {
      util::ByteSpan piece = rest.subspan(0, std::min(chunk, rest.size()));
      rest = rest.subspan(piece.size());
      while (!piece.empty()) {
        auto f = dec.next(piece);
        if (!f) break;
        if (*f && (*f)->payload.size() > *limits.max_payload((*f)->type)) std::abort();
      }
    }
  }
  if (auto h = net::decode_hello(in)) {
    if (net::encode_hello(*h) != util::Bytes(data, data + size)) std::abort();
  }
  (void)net::decode_addr(in);
  (void)net::decode_reason(in);
  if (auto inv = node::decode_inv(in)) {
    if (node::encode_inv(*inv) != util::Bytes(data, data + size)) std::abort();
  }
  if (auto loc = node::decode_locator(in)) {
    if (node::encode_locator(*loc) != util::Bytes(data, data + size)) std::abort();
  }
  if (auto txs = node::decode_txs(in)) {
    std::vector<const primitives::Transaction*> ptrs;
    for (const auto& t : *txs) ptrs.push_back(&t);
    if (node::encode_txs(ptrs) != util::Bytes(data, data + size)) std::abort();
  }
  if (auto hs = node::decode_headers(in)) {
    if (node::encode_headers(*hs) != util::Bytes(data, data + size)) std::abort();
  }
  return 0;
}
