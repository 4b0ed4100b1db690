#include "net/messages.h"

#include <utility>  // before any Boost.Asio header (Boost 1.74 under C++20)

#include <boost/asio/ip/address.hpp>
#include <cassert>

#include "util/serialize.h"

namespace peerchain::net {

namespace ip = boost::asio::ip;

std::optional<NetAddress> NetAddress::from_ip(std::string_view text, uint16_t port) {
  boost::system::error_code ec;
  auto a = ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  NetAddress out;
  out.ip = a.is_v4() ? ip::make_address_v6(ip::v4_mapped, a.to_v4()).to_bytes() : a.to_v6().to_bytes();
  out.port = port;
  return out;
}

std::string NetAddress::host() const {
  ip::address_v6 v6(ip);
  if (v6.is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, v6).to_string();
  return v6.to_string();
}

std::string NetAddress::to_string() const { return format_host_port(host(), port); }

bool NetAddress::is_dialable() const {
  ip::address_v6 v6(ip);
  if (port == 0 || v6.is_unspecified() || v6.is_multicast()) return false;
  if (v6.is_v4_mapped()) {
    auto v4 = ip::make_address_v4(ip::v4_mapped, v6);
    if (v4.is_unspecified() || v4.is_multicast() || v4 == ip::address_v4::broadcast()) return false;
  }
  return true;
}

std::string format_host_port(std::string_view host, uint16_t port) {
  std::string h(host);
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  return h + ":" + std::to_string(port);
}

Bytes encode_nonce(uint64_t nonce) {
  util::Writer w(8);
  w.u64(nonce);
  return std::move(w).take();
}

util::Result<uint64_t> decode_nonce(ByteSpan payload) {
  util::Reader r(payload);
  auto n = r.u64();
  if (!n) return n;
  if (auto end = r.expect_end(); !end) return util::unexpected(end.error());
  return n;
}

Bytes encode_reason(std::string_view reason) {
  if (reason.size() > kMaxReasonLength) reason = reason.substr(0, kMaxReasonLength);
  util::Writer w(3 + reason.size());
  w.compact_size(reason.size());
  w.bytes(util::as_bytes(reason));
  return std::move(w).take();
}

util::Result<std::string> decode_reason(ByteSpan payload) {
  util::Reader r(payload);
  auto n = r.compact_size(kMaxReasonLength);
  if (!n) return util::unexpected(n.error());
  auto b = r.bytes(static_cast<size_t>(*n));
  if (!b) return util::unexpected(b.error());
  if (auto end = r.expect_end(); !end) return util::unexpected(end.error());
  std::string s(b->begin(), b->end());
  for (char& c : s)
    if (c < 0x20 || c > 0x7e) c = '?';
  return s;
}

Bytes encode_addr(const std::vector<NetAddress>& addrs) {
  assert(addrs.size() <= kMaxAddrPerMessage);
  util::Writer w(3 + addrs.size() * kAddrEntrySize);
  w.compact_size(addrs.size());
  for (const auto& a : addrs) {
    w.bytes(a.ip);
    w.u16(a.port);
  }
  return std::move(w).take();
}

util::Result<std::vector<NetAddress>> decode_addr(ByteSpan payload) {
  util::Reader r(payload);
  auto n = r.compact_size(kMaxAddrPerMessage);
  if (!n) return util::unexpected(n.error());
  if (r.remaining() != *n * kAddrEntrySize)
    return util::fail("bad-length", std::to_string(*n) + " addresses need " +
                                        std::to_string(*n * kAddrEntrySize) + " bytes, have " +
                                        std::to_string(r.remaining()));
  std::vector<NetAddress> out(static_cast<size_t>(*n));
  for (auto& a : out) {
    auto ip = *r.bytes(16);
    std::copy(ip.begin(), ip.end(), a.ip.begin());
    a.port = *r.u16();
  }
  return out;
}

}  // namespace peerchain::net
