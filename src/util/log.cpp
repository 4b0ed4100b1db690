#include "util/log.h"

namespace peerchain::util {

bool set_log_level(std::string_view level) {
  auto l = spdlog::level::from_str(std::string(level));
  if (l == spdlog::level::off && level != "off") return false;
  spdlog::set_level(l);
  return true;
}

}  // namespace peerchain::util
