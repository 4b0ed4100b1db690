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

namespace detail {
inline thread_local spdlog::logger* current_logger = nullptr;
}

// The logger of whatever runs on this thread: the process-wide logger (spdlog's default) unless
// a LogScope installed another. Thread-safe.
inline spdlog::logger& log() {
  return detail::current_logger ? *detail::current_logger : *spdlog::default_logger_raw();
}

// Routes util::log() on this thread to `logger` while the scope lives (scopes nest). The
// simulator runs many nodes on one thread and enters each node's scope before running its code,
// so each node's lines go to that node's own sink (a log sink per node) without a logger being
// threaded through every constructor.
class LogScope {
 public:
  explicit LogScope(spdlog::logger* logger) : saved_(detail::current_logger) { detail::current_logger = logger; }
  ~LogScope() { detail::current_logger = saved_; }
  LogScope(const LogScope&) = delete;
  LogScope& operator=(const LogScope&) = delete;

 private:
  spdlog::logger* saved_;
};

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
