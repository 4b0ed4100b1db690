// sim/trace.h — the record of a simulated run (docs/spec/sim-trace.md): one JSON object per line,
// every event with its simulated time. The trace hash (SHA-256 over every line, recorded to a file
// or not) is how determinism is checked: the same (seed, options, code) gives the same hash.
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "crypto/sha256.h"
#include "sim/event_loop.h"
#include "util/result.h"

namespace peerchain::sim {

// One line of the trace, built field by field (keys are fixed identifiers; string values are
// escaped).
class TraceEvent {
 public:
  explicit TraceEvent(std::string_view kind);
  TraceEvent& num(std::string_view key, int64_t v);
  TraceEvent& real(std::string_view key, double v);
  TraceEvent& str(std::string_view key, std::string_view v);
  TraceEvent& boolean(std::string_view key, bool v);
  // A raw JSON value (an array or object the caller built).
  TraceEvent& raw(std::string_view key, std::string_view json);
  const std::string& body() const { return body_; }

 private:
  std::string body_;
};

std::string json_escape(std::string_view s);

class Trace {
 public:
  // Writes to `path` when not empty. Errors: "io".
  util::Status open(const std::string& path);
  ~Trace();
  // The first line: format, version, seed and options (a JSON object).
  void header(std::string_view json_object);
  void emit(Micros t, const TraceEvent& e);
  // The hash of every line (hex). Call once, at the end of the run.
  std::string finish_hash();
  uint64_t lines() const { return lines_; }
  // The last lines, for a violation's report.
  const std::deque<std::string>& recent() const { return recent_; }
  static constexpr size_t kRecent = 40;
  // Sees every line as it is written (a live run streams them to its viewers; sim/live.h).
  std::function<void(const std::string& line)> tap;
  // Writes what is buffered to the file (a live run's recording is read while it goes on).
  void flush();

 private:
  void line(const std::string& s);
  std::FILE* file_ = nullptr;
  crypto::Sha256 hash_;
  uint64_t lines_ = 0;
  std::deque<std::string> recent_;
};

}  // namespace peerchain::sim
