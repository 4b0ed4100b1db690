// util/log.h — structured logging through spdlog. Modules log through util::log() so that the
// app layer alone decides sinks and levels (set_level, set_json).
#pragma once

#include <spdlog/spdlog.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "util/result.h"

namespace peerchain::util {

// The process-wide logger (spdlog's default logger). Thread-safe.
inline spdlog::logger& log() { return *spdlog::default_logger_raw(); }

// Parses "trace|debug|info|warn|error|off"; false on anything else.
bool set_log_level(std::string_view level);

struct LogFileOptions {
  std::string path;                   // required
  size_t max_bytes = 64u << 20;       // default: rotate past 64 MiB
  size_t max_files = 5;               // default: keep 5 rotated files besides PATH
};

// Sends the process logger to `opts.path` instead of stdout, rotating by size with spdlog's names
// (node.log -> node.1.log -> ... -> node.N.log, N = max_files, the oldest dropped). Errors: "io" when the file cannot be opened.
// REQUIRES: called once, before other threads log.
Status log_to_file(const LogFileOptions& opts);

// Closes and reopens the log file at its path (after logrotate or a person moved it away); a
// no-op without log_to_file(). Thread-safe: lines being written finish in the old file.
// Errors: "io" when the path cannot be opened (the old file is kept).
Status reopen_log_file();

}  // namespace peerchain::util
