#include "util/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>

#include <mutex>

namespace peerchain::util {

bool set_log_level(std::string_view level) {
  auto l = spdlog::level::from_str(std::string(level));
  if (l == spdlog::level::off && level != "off") return false;
  spdlog::set_level(l);
  return true;
}

namespace {

// A size-rotating file that can be reopened at its path (SIGHUP): spdlog's rotating sink keeps
// its descriptor for good, so after logrotate moves the file it would write into the moved one.
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit ReopenableFileSink(LogFileOptions opts) : opts_(std::move(opts)) {}

  // Throws spdlog::spdlog_ex when the file cannot be opened.
  void open() {
    std::lock_guard lock(mutex_);
    open_locked();
  }
  Status reopen() {
    std::lock_guard lock(mutex_);
    try {
      open_locked();
    } catch (const spdlog::spdlog_ex& e) {
      return fail("io", std::string("cannot reopen log file: ") + e.what());
    }
    return {};
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (file_) file_->log(msg);
  }
  void flush_() override {
    if (file_) file_->flush();
  }
  void set_pattern_(const std::string& pattern) override {
    pattern_ = pattern;
    if (file_) file_->set_pattern(pattern);
  }
  void set_formatter_(std::unique_ptr<spdlog::formatter> f) override {
    if (file_) file_->set_formatter(std::move(f));
  }

 private:
  void open_locked() {
    auto next = std::make_unique<spdlog::sinks::rotating_file_sink_st>(opts_.path, opts_.max_bytes, opts_.max_files);
    if (!pattern_.empty()) next->set_pattern(pattern_);
    file_ = std::move(next);  // the old file is closed here
  }

  const LogFileOptions opts_;
  std::unique_ptr<spdlog::sinks::rotating_file_sink_st> file_;
  std::string pattern_;
};

std::mutex g_file_mu;
std::shared_ptr<ReopenableFileSink> g_file;  // GUARDED_BY(g_file_mu)

}  // namespace

Status log_to_file(const LogFileOptions& opts) {
  auto sink = std::make_shared<ReopenableFileSink>(opts);
  try {
    sink->open();
  } catch (const spdlog::spdlog_ex& e) {
    return fail("io", "cannot open log file " + opts.path + ": " + e.what());
  }
  auto& logger = log();
  logger.sinks().clear();
  logger.sinks().push_back(sink);
  logger.flush_on(spdlog::level::trace);  // every line is on disk at once: a crash may follow it
  std::lock_guard lock(g_file_mu);
  g_file = std::move(sink);
  return {};
}

Status reopen_log_file() {
  std::shared_ptr<ReopenableFileSink> sink;
  {
    std::lock_guard lock(g_file_mu);
    sink = g_file;
  }
  return sink ? sink->reopen() : Status{};
}

}  // namespace peerchain::util
