// node/real_world.cpp — the services of the real world (node/services.h): the only place in the
// node's modules where a thread is started for timers and where the transport and database
// implementations are chosen.
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "chain/parallel_verify.h"
#include "crypto/random.h"
#include "net/net_manager.h"
#include "node/services.h"
#include "util/thread_name.h"

namespace peerchain::node {

namespace {

// One thread runs every timer task in due order.
class ThreadScheduler final : public Scheduler {
 public:
  ThreadScheduler() : thread_([this] { run(); }) {}
  ~ThreadScheduler() override {
    {
      std::lock_guard lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  TaskId after(int64_t delay_ms, std::function<void()> task) override {
    std::lock_guard lock(mu_);
    const TaskId id = ++next_id_;
    auto due = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<int64_t>(0, delay_ms));
    queue_.emplace(due, Entry{id, std::move(task)});
    cv_.notify_all();
    return id;
  }

  void cancel(TaskId id) override {
    std::unique_lock lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it)
      if (it->second.id == id) {
        queue_.erase(it);
        return;
      }
    if (std::this_thread::get_id() == thread_.get_id()) return;  // from inside the task itself
    done_cv_.wait(lock, [&] { return running_ != id; });
  }

 private:
  struct Entry {
    TaskId id;
    std::function<void()> task;
  };

  void run() {
    util::set_thread_name("pc-timers");
    std::unique_lock lock(mu_);
    while (!quit_) {
      if (queue_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto due = queue_.begin()->first;
      if (std::chrono::steady_clock::now() < due) {
        cv_.wait_until(lock, due);
        continue;
      }
      Entry e = std::move(queue_.begin()->second);
      queue_.erase(queue_.begin());
      running_ = e.id;
      lock.unlock();
      e.task();
      lock.lock();
      running_ = 0;
      done_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  std::multimap<std::chrono::steady_clock::time_point, Entry> queue_;  // GUARDED_BY(mu_)
  TaskId next_id_ = 0;                                                 // GUARDED_BY(mu_)
  TaskId running_ = 0;                                                 // GUARDED_BY(mu_)
  bool quit_ = false;                                                  // GUARDED_BY(mu_)
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace

struct RealWorld::Impl {
  chain::VerifyPool verify_pool{chain::VerifyPool::default_workers()};
  ThreadScheduler scheduler;
};

RealWorld::RealWorld(const util::Clock& clock) : impl_(std::make_unique<Impl>()) {
  services_.clock = &clock;
  services_.scheduler = &impl_->scheduler;
  services_.worker_threads = true;
  services_.verify_pool = &impl_->verify_pool;
  services_.transport = [&clock](net::NetOptions o, net::NetEvents e) -> util::Result<std::unique_ptr<net::Transport>> {
    auto m = net::NetManager::create(std::move(o), std::move(e), clock);
    if (!m) return util::unexpected(m.error());
    return std::unique_ptr<net::Transport>(std::move(*m));
  };
  services_.storage = [](const std::string& data_dir) -> util::Result<std::unique_ptr<storage::Database>> {
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec) return util::fail("io", "cannot create data directory " + data_dir + ": " + ec.message());
    return storage::Database::open(data_dir + "/chain");
  };
  services_.random = [] { return crypto::random_u64(); };
  services_.on_fatal = [](const std::string&) { ::kill(::getpid(), SIGTERM); };
}

RealWorld::~RealWorld() = default;

}  // namespace peerchain::node
