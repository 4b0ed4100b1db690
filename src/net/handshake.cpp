#include "net/handshake.h"

#include <cassert>

#include "util/serialize.h"

namespace peerchain::net {

bool is_printable_ascii(std::string_view s) {
  for (char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

Bytes encode_hello(const Hello& h) {
  assert(h.user_agent.size() <= kMaxUserAgentLength);
  util::Writer w(kMaxHelloSize);
  w.u32(h.protocol_version);
  w.fixed(h.magic);
  w.u32(h.chain_id);
  w.fixed(h.genesis_id);
  w.u64(h.node_nonce);
  w.u16(h.listen_port);
  w.u32(h.best_height);
  w.compact_size(h.user_agent.size());
  w.bytes(util::as_bytes(h.user_agent));
  return std::move(w).take();
}

util::Result<Hello> decode_hello(ByteSpan payload) {
  // The fixed-size prefix is checked once so its fields can be read without further checks.
  constexpr size_t kFixedPrefix = kMaxHelloSize - 1 - kMaxUserAgentLength;
  if (payload.size() < kFixedPrefix)
    return util::fail("truncated", "hello needs at least " + std::to_string(kFixedPrefix) + " bytes, have " +
                                       std::to_string(payload.size()));
  util::Reader r(payload);
  Hello h;
  h.protocol_version = *r.u32();
  h.magic = *r.fixed<4>();
  h.chain_id = *r.u32();
  h.genesis_id = *r.fixed<32>();
  h.node_nonce = *r.u64();
  h.listen_port = *r.u16();
  h.best_height = *r.u32();
  auto ua_len = r.compact_size(kMaxUserAgentLength);
  if (!ua_len) return util::unexpected(ua_len.error());
  auto ua = r.bytes(static_cast<size_t>(*ua_len));
  if (!ua) return util::unexpected(ua.error());
  h.user_agent.assign(ua->begin(), ua->end());
  if (!is_printable_ascii(h.user_agent))
    return util::fail("bad-user-agent", "user agent is not printable ASCII");
  if (auto end = r.expect_end(); !end) return util::unexpected(end.error());
  return h;
}

util::Status check_hello(const Hello& local, const Hello& remote) {
  if (remote.magic != local.magic || remote.chain_id != local.chain_id)
    return util::fail("wrong-network", "peer is on network " + remote.magic.hex() + "/chain " +
                                           std::to_string(remote.chain_id) + ", we are on " +
                                           local.magic.hex() + "/chain " + std::to_string(local.chain_id));
  if (remote.genesis_id != local.genesis_id)
    return util::fail("wrong-genesis",
                      "peer's genesis is " + remote.genesis_id.hex() + ", ours is " + local.genesis_id.hex());
  if (remote.node_nonce == local.node_nonce)
    return util::fail("self-connection",
                      "connected to ourselves (node nonce " + std::to_string(local.node_nonce) + ")");
  if (remote.protocol_version < kMinProtocolVersion)
    return util::fail("old-version", "peer speaks protocol " + std::to_string(remote.protocol_version) +
                                         ", we need at least " + std::to_string(kMinProtocolVersion));
  return {};
}

}  // namespace peerchain::net
