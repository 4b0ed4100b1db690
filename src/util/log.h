// util/log.h — structured logging through spdlog. Modules log through util::log() so that the
// app layer alone decides sinks and levels (set_level, set_json).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

namespace peerchain::util {

// The process-wide logger (spdlog's default logger). Thread-safe.
inline spdlog::logger& log() { return *spdlog::default_logger_raw(); }

// Parses "trace|debug|info|warn|error|off"; false on anything else.
bool set_log_level(std::string_view level);

}  // namespace peerchain::util
