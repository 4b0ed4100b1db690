#include "sim/trace.h"

#include <cerrno>
#include <cstring>

#include "util/bytes.h"

namespace peerchain::sim {

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

TraceEvent::TraceEvent(std::string_view kind) { body_ = "\"ev\":\"" + std::string(kind) + "\""; }

TraceEvent& TraceEvent::num(std::string_view key, int64_t v) {
  body_ += ",\"" + std::string(key) + "\":" + std::to_string(v);
  return *this;
}

TraceEvent& TraceEvent::real(std::string_view key, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  body_ += ",\"" + std::string(key) + "\":" + buf;
  return *this;
}

TraceEvent& TraceEvent::str(std::string_view key, std::string_view v) {
  body_ += ",\"" + std::string(key) + "\":\"" + json_escape(v) + "\"";
  return *this;
}

TraceEvent& TraceEvent::boolean(std::string_view key, bool v) {
  body_ += ",\"" + std::string(key) + "\":" + (v ? "true" : "false");
  return *this;
}

TraceEvent& TraceEvent::raw(std::string_view key, std::string_view json) {
  body_ += ",\"" + std::string(key) + "\":" + std::string(json);
  return *this;
}

util::Status Trace::open(const std::string& path) {
  if (path.empty()) return {};
  file_ = std::fopen(path.c_str(), "w");
  if (!file_) return util::fail("io", "cannot write " + path + ": " + std::strerror(errno));
  return {};
}

Trace::~Trace() {
  if (file_) std::fclose(file_);
}

void Trace::header(std::string_view json_object) { line(std::string(json_object)); }

void Trace::emit(Micros t, const TraceEvent& e) {
  line("{\"t\":" + std::to_string(t) + "," + e.body() + "}");
}

void Trace::line(const std::string& s) {
  hash_.write(util::ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  hash_.write(util::ByteSpan(reinterpret_cast<const uint8_t*>("\n"), 1));
  ++lines_;
  if (file_) {
    std::fwrite(s.data(), 1, s.size(), file_);
    std::fputc('\n', file_);
  }
  recent_.push_back(s);
  if (recent_.size() > kRecent) recent_.pop_front();
  if (tap) tap(s);
}

void Trace::flush() {
  if (file_) std::fflush(file_);
}

std::string Trace::finish_hash() {
  if (file_) std::fflush(file_);
  return hash_.finalize().hex();
}

}  // namespace peerchain::sim
