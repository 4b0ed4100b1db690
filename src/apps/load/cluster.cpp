#include "apps/load/cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "apps/local_node.h"
#include "rpc/http_client.h"

namespace peerchain::apps::load {

namespace {

// Below Linux's ephemeral range (32768+), so no outgoing connection takes it before the node binds.
uint16_t pick_port(std::vector<uint16_t>& taken) {
  std::mt19937 rng(std::random_device{}());
  for (int i = 0; i < 500; ++i) {
    auto p = static_cast<uint16_t>(20000 + rng() % 12000);
    if (std::find(taken.begin(), taken.end(), p) == taken.end() && loopback_port_free(p)) {
      taken.push_back(p);
      return p;
    }
  }
  return 0;
}

}  // namespace

LocalCluster::~LocalCluster() {
  for (size_t i = 0; i < nodes_.size(); ++i) stop_node(i);
}

util::Status LocalCluster::start() {
  if (opts_.nodes < 1 || opts_.nodes > 16) return util::fail("usage", "nodes must be 1..16");
  if (::access(opts_.peerchaind.c_str(), X_OK) != 0) return util::fail("usage", "cannot run " + opts_.peerchaind);
  ::mkdir(opts_.dir.c_str(), 0700);
  std::vector<uint16_t> taken;
  for (int i = 0; i < opts_.nodes; ++i) {
    LocalNode n;
    n.port = pick_port(taken);
    if (n.port == 0) return util::fail("ports", "no free port on 127.0.0.1");
    n.home = opts_.dir + "/node" + std::to_string(i);
    n.log = opts_.dir + "/node" + std::to_string(i) + ".log";
    nodes_.push_back(n);
  }
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (auto st = start_node(i); !st) return st;
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (auto st = wait_ready(i, 30'000); !st) return st;
  // Every node connected to at least one other before load starts.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (size_t i = 0; i < nodes_.size() && nodes_.size() > 1; ++i) {
    rpc::RpcClient c(nodes_[i].host, nodes_[i].port, 5'000);
    for (;;) {
      auto peers = c.call("getpeerinfo");
      if (peers && peers->is_array() && peers->size() + 1 >= nodes_.size()) break;
      if (std::chrono::steady_clock::now() > deadline)
        return util::fail("network", "node" + std::to_string(i) + " did not connect to its peers within 30 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return {};
}

util::Status LocalCluster::start_node(size_t i) {
  LocalNode& n = nodes_.at(i);
  std::vector<std::string> args{opts_.peerchaind, "--home", n.home,   "--network",   "dev",
                                "--listen",       n.host,   "--port", std::to_string(n.port), "--no-discover"};
  bool own_level = std::any_of(opts_.extra_args.begin(), opts_.extra_args.end(),
                               [](const std::string& a) { return a.rfind("--log-level", 0) == 0; });
  if (!own_level) {
    args.push_back("--log-level");
    args.push_back("warn");
  }
  for (size_t j = 0; j < nodes_.size(); ++j)
    if (j != i) {
      args.push_back("--peer");
      args.push_back(nodes_[j].host + ":" + std::to_string(nodes_[j].port));
    }
  if (opts_.mine) args.push_back("--mine");
  for (const auto& a : opts_.extra_args) args.push_back(a);
  int log = ::open(n.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) return util::fail("io", "cannot open " + n.log + ": " + std::strerror(errno));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    return util::fail("io", std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log);
  n.pid = pid;
  return {};
}

util::Status LocalCluster::wait_ready(size_t i, int timeout_ms) {
  const LocalNode& n = nodes_.at(i);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    if (::waitpid(n.pid, &status, WNOHANG) == n.pid) {
      nodes_[i].pid = 0;
      return util::fail("node", "node" + std::to_string(i) + " exited: " + last_log_line(n.log));
    }
    rpc::RpcClient c(n.host, n.port, 2'000);
    if (c.call("getblockchaininfo")) return {};
    if (std::chrono::steady_clock::now() > deadline)
      return util::fail("node", "node" + std::to_string(i) + " did not answer within " +
                                    std::to_string(timeout_ms / 1000) + " s: " + last_log_line(n.log));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void LocalCluster::stop_node(size_t i) {
  LocalNode& n = nodes_.at(i);
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    pid_t r = ::waitpid(n.pid, nullptr, WNOHANG);
    if (r == n.pid || (r < 0 && errno != EINTR)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(n.pid, SIGKILL);
      ::waitpid(n.pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  n.pid = 0;
}

}  // namespace peerchain::apps::load
