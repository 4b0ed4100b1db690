// util/host_port.h — "HOST:PORT" as users type it (flags, config, RPC).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace peerchain::util {

struct HostPort {
  std::string host;  // a name or an IP literal, without brackets
  uint16_t port = 0;
};

// "host:port" or "[v6]:port" with port 1..65535; nullopt for anything else.
inline std::optional<HostPort> parse_host_port(std::string_view s) {
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= s.size()) return std::nullopt;
  std::string_view host = s.substr(0, colon), port = s.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  unsigned long p = std::stoul(std::string(port));
  if (p == 0 || p > 65535) return std::nullopt;
  return HostPort{std::string(host), static_cast<uint16_t>(p)};
}

}  // namespace peerchain::util
