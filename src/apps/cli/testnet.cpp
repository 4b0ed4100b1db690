#include "apps/cli/testnet.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "apps/load/event_stream.h"
#include "apps/local_node.h"
#include "consensus/params.h"
#include "crypto/schnorr.h"
#include "primitives/address.h"
#include "rpc/http_client.h"

namespace peerchain::apps::cli {

namespace {

using rpc::Json;
using Clock = std::chrono::steady_clock;

struct NodeRecord {
  int index = 0;
  pid_t pid = 0;
  uint16_t port = 0;
  std::string home;
  std::string log;
  std::string miner;  // address its blocks pay (HOME/miner_key); empty in records of older versions
};

int fail(const std::string& why) {
  std::fprintf(stderr, "error: %s\n", why.c_str());
  return 1;
}

std::string state_path(const TestnetOptions& o) { return o.dir + "/testnet.json"; }

bool make_dirs(const std::string& dir) {
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    std::string cur = dir.substr(0, pos);
    if (!cur.empty() && ::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  return true;
}

// True while `pid` is a live (not zombie) peerchaind process started with `--home home`.
// True while `pid` runs: it exists and is not a zombie waiting for its reaper.
bool running(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto rp = line.rfind(')');
  return rp != std::string::npos && rp + 2 < line.size() && line[rp + 2] != 'Z' && line[rp + 2] != 'X';
}

bool is_our_node(pid_t pid, const std::string& home) {
  if (!running(pid)) return false;
  std::ifstream cmd("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string args((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
  std::string needle = std::string("--home") + '\0' + home + '\0';
  return args.find("peerchaind") != std::string::npos && args.find(needle) != std::string::npos;
}

std::optional<std::vector<NodeRecord>> load_state(const TestnetOptions& o, std::string& why) {
  std::ifstream in(state_path(o));
  if (!in) {
    why = "no testnet recorded in " + o.dir + " (start one with: peerchain-cli testnet start --nodes N)";
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  Json j = Json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("nodes") || !j["nodes"].is_array()) {
    why = state_path(o) + " is not a testnet record";
    return std::nullopt;
  }
  std::vector<NodeRecord> out;
  try {
    for (const auto& n : j["nodes"])
      out.push_back(NodeRecord{n.at("index").get<int>(), n.at("pid").get<pid_t>(), n.at("port").get<uint16_t>(),
                               n.at("home").get<std::string>(), n.at("log").get<std::string>(),
                               n.value("miner", std::string())});
  } catch (const Json::exception&) {
    why = state_path(o) + " is not a testnet record";
    return std::nullopt;
  }
  return out;
}

bool save_state(const TestnetOptions& o, const std::vector<NodeRecord>& nodes) {
  Json arr = Json::array();
  for (const auto& n : nodes)
    arr.push_back({{"index", n.index}, {"pid", n.pid}, {"port", n.port}, {"home", n.home}, {"log", n.log}, {"miner", n.miner}});
  std::string tmp = state_path(o) + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << Json{{"network", "dev"}, {"nodes", arr}}.dump(2) << "\n";
    if (!out) return false;
  }
  return ::rename(tmp.c_str(), state_path(o).c_str()) == 0;
}

// The node's own miner key, kept in HOME/miner_key (hex secret, mode 0600) so a restarted testnet
// pays the same accounts: every node's blocks then show who mined them (getblocktree's miner,
// the web view's colours). Returns the miner address, or empty with `why` set.
std::string miner_address_for(const std::string& home, std::string& why) {
  const std::string path = home + "/miner_key";
  std::optional<crypto::SecretKey> key;
  if (std::ifstream in(path); in) {
    std::string hex;
    in >> hex;
    auto bytes = util::FixedBytes<32>::from_hex(hex);
    if (bytes) key = crypto::SecretKey::from_bytes(*bytes);
    if (!key) {
      why = path + " is not a 64-hex-character secret key (remove it to make a new one)";
      return {};
    }
  } else {
    key = crypto::SecretKey::generate();
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    std::string line = key->bytes().hex() + "\n";
    bool ok = fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    if (fd >= 0) ::close(fd);
    if (!ok) {
      why = "cannot write " + path + ": " + std::strerror(errno);
      return {};
    }
  }
  auto params = consensus::params_for("dev");
  return primitives::encode_address(params->address_prefix, key->pubkey());
}

// HOME/label: the name the node reports in getnetworkinfo (the web view's legend shows it).
bool write_label(const std::string& home, const std::string& label) {
  std::ofstream out(home + "/label", std::ios::trunc);
  out << label << "\n";
  return static_cast<bool>(out);
}

// SIGTERM every live node, wait up to `grace` for all to exit, SIGKILL what remains.
// The wait is for the signalled processes to be gone, not for their command lines to stop
// matching: an exiting process's cmdline reads empty before it is a zombie, so it still ran
// (its database still open) when the match failed, and a test saw it alive after stop returned.
void stop_nodes(const std::vector<NodeRecord>& nodes, std::chrono::seconds grace, bool verbose) {
  std::vector<pid_t> signalled;
  for (const auto& n : nodes)
    if (is_our_node(n.pid, n.home) && ::kill(n.pid, SIGTERM) == 0) signalled.push_back(n.pid);
  auto deadline = Clock::now() + grace;
  for (;;) {
    bool any = false;
    for (pid_t pid : signalled) any = any || running(pid);
    if (!any || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const auto& n : nodes) {
    if (is_our_node(n.pid, n.home)) {
      ::kill(n.pid, SIGKILL);
      if (verbose) std::printf("node%d (pid %d) did not exit within %llds of SIGTERM: killed\n", n.index, n.pid,
                               static_cast<long long>(grace.count()));
    } else if (verbose) {
      std::printf("node%d (pid %d, port %u) stopped\n", n.index, n.pid, n.port);
    }
  }
}

// During start the nodes are our children: stop them by pid (they may not have exec'd yet, so
// /proc does not show them as nodes) and reap them.
void stop_children(const std::vector<NodeRecord>& nodes) {
  for (const auto& n : nodes) ::kill(n.pid, SIGTERM);
  auto deadline = Clock::now() + std::chrono::seconds(20);
  for (const auto& n : nodes) {
    for (;;) {
      pid_t r = ::waitpid(n.pid, nullptr, WNOHANG);
      if (r == n.pid || (r < 0 && errno != EINTR)) break;
      if (Clock::now() >= deadline) {
        ::kill(n.pid, SIGKILL);
        ::waitpid(n.pid, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

}  // namespace

int testnet_start(const TestnetOptions& o) {
  if (o.nodes < 1 || o.nodes > 16) return fail("--nodes must be 1..16");
  if (static_cast<int>(o.base_port) + o.nodes - 1 > 65535 || o.base_port == 0) return fail("--base-port out of range");
  if (::access(o.peerchaind.c_str(), X_OK) != 0) return fail("cannot run the node binary " + o.peerchaind);
  std::string why;
  if (auto old = load_state(o, why)) {
    for (const auto& n : *old)
      if (is_our_node(n.pid, n.home))
        return fail("a testnet is already running in " + o.dir + " (node" + std::to_string(n.index) + " pid " +
                    std::to_string(n.pid) + "); stop it first: peerchain-cli testnet stop --dir " + o.dir);
  }
  if (!make_dirs(o.dir)) return fail("cannot create " + o.dir + ": " + std::strerror(errno));
  for (int k = 0; k < o.nodes; ++k) {
    auto port = static_cast<uint16_t>(o.base_port + k);
    if (!loopback_port_free(port)) return fail("port " + std::to_string(port) + " on 127.0.0.1 is in use; choose another --base-port");
  }
  std::vector<NodeRecord> nodes;
  for (int k = 0; k < o.nodes; ++k) {
    NodeRecord n{k, 0, static_cast<uint16_t>(o.base_port + k), o.dir + "/node" + std::to_string(k),
                 o.dir + "/node" + std::to_string(k) + ".log", {}};
    if (!make_dirs(n.home) || !write_label(n.home, "node" + std::to_string(k))) {
      stop_children(nodes);
      return fail("cannot write " + n.home + "/label: " + std::strerror(errno));
    }
    n.miner = miner_address_for(n.home, why);
    if (n.miner.empty()) {
      stop_children(nodes);
      return fail(why);
    }
    std::vector<std::string> args{o.peerchaind, "--home",  n.home,         "--network", "dev", "--listen",
                                  "127.0.0.1",  "--port",  std::to_string(n.port), "--no-discover",
                                  "--miner",    n.miner};
    for (int j = 0; j < o.nodes; ++j)
      if (j != k) {
        args.push_back("--peer");
        args.push_back("127.0.0.1:" + std::to_string(o.base_port + j));
      }
    if (o.mine) args.push_back("--mine");
    int log = ::open(n.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log < 0) {
      stop_children(nodes);
      return fail("cannot open " + n.log + ": " + std::strerror(errno));
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setsid();  // the nodes outlive this command and ignore its terminal's Ctrl-C
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execv(argv[0], argv.data());
      std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
      ::_exit(127);
    }
    ::close(log);
    if (pid < 0) {
      stop_children(nodes);
      return fail(std::string("fork: ") + std::strerror(errno));
    }
    n.pid = pid;
    nodes.push_back(n);
  }
  if (!save_state(o, nodes)) {
    stop_children(nodes);
    return fail("cannot write " + state_path(o));
  }
  auto deadline = Clock::now() + std::chrono::seconds(30);
  for (const auto& n : nodes) {
    rpc::RpcClient c("127.0.0.1", n.port, 2'000);
    for (;;) {
      if (c.call("getblockchaininfo")) break;
      if (::waitpid(n.pid, nullptr, WNOHANG) == n.pid) {
        stop_children(nodes);
        ::unlink(state_path(o).c_str());
        return fail("node" + std::to_string(n.index) + " exited during start (" + n.log + ": " + last_log_line(n.log) + ")");
      }
      if (Clock::now() >= deadline) {
        stop_children(nodes);
        ::unlink(state_path(o).c_str());
        return fail("node" + std::to_string(n.index) + " did not answer RPC within 30 s (see " + n.log + ")");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  if (o.json) {
    Json arr = Json::array();
    for (const auto& n : nodes)
      arr.push_back({{"node", n.index}, {"label", "node" + std::to_string(n.index)}, {"pid", n.pid}, {"port", n.port},
                     {"home", n.home}, {"log", n.log}, {"miner", n.miner}});
    std::printf("%s\n", arr.dump().c_str());
    return 0;
  }
  std::printf("testnet of %d dev node%s in %s%s\n", o.nodes, o.nodes == 1 ? "" : "s", o.dir.c_str(),
              o.mine ? " (mining)" : "");
  std::printf("%-6s %-6s %-8s %-64s %s\n", "node", "port", "pid", "miner", "log");
  for (const auto& n : nodes)
    std::printf("node%-2d %-6u %-8d %-64s %s\n", n.index, n.port, n.pid, n.miner.c_str(), n.log.c_str());
  std::printf("use: peerchain-cli --node 127.0.0.1:%u status\n", nodes.front().port);
  std::string list;
  for (const auto& n : nodes) list += (list.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(n.port);
  std::printf("web view of every node: http://127.0.0.1:%u/?nodes=%s#/network\n", nodes.front().port, list.c_str());
  return 0;
}

int testnet_status(const TestnetOptions& o) {
  std::string why;
  auto nodes = load_state(o, why);
  if (!nodes) return fail(why);
  Json arr = Json::array();
  for (const auto& n : *nodes) {
    Json row{{"node", n.index}, {"label", "node" + std::to_string(n.index)}, {"port", n.port}, {"pid", n.pid},
             {"miner", n.miner},  {"up", false}};
    if (is_our_node(n.pid, n.home)) {
      rpc::RpcClient c("127.0.0.1", n.port, 3'000);
      if (auto info = c.call("getblockchaininfo")) {
        row["up"] = true;
        row["height"] = (*info).value("height", uint64_t{0});
        row["tip"] = (*info).value("tip", std::string());
        row["peers"] = (*info).value("peers", uint64_t{0});
        row["mining"] = (*info).value("mining", false);
      } else {
        row["error"] = info.error().to_string();
        // The process is there but does not answer (SIGSTOP, overloaded): say so, not "DOWN".
        if (info.error().code == "timeout") row["not_answering"] = true;
      }
    }
    arr.push_back(row);
  }
  // Exit 1 when any node is down or not answering, so scripts can tell a healthy testnet.
  const bool all_up = std::all_of(arr.begin(), arr.end(), [](const Json& r) { return r["up"].get<bool>(); });
  if (o.json) {
    std::printf("%s\n", arr.dump().c_str());
    return all_up ? 0 : 1;
  }
  std::printf("%-6s %-6s %-8s %-8s %-18s %-5s\n", "node", "port", "pid", "height", "tip", "peers");
  std::string tip;
  bool agree = true;
  int up = 0;
  for (const auto& r : arr) {
    if (!r["up"].get<bool>()) {
      std::printf("node%-2d %-6u %-8d %s%s\n", r["node"].get<int>(), r["port"].get<unsigned>(), r["pid"].get<int>(),
                  r.value("not_answering", false) ? "NOT ANSWERING" : "DOWN",
                  r.contains("error") ? (" (" + r["error"].get<std::string>() + ")").c_str() : "");
      continue;
    }
    ++up;
    auto t = r["tip"].get<std::string>();
    if (tip.empty()) tip = t;
    agree = agree && t == tip;
    std::printf("node%-2d %-6u %-8d %-8llu %-18s %-5llu\n", r["node"].get<int>(), r["port"].get<unsigned>(),
                r["pid"].get<int>(), static_cast<unsigned long long>(r["height"].get<uint64_t>()),
                t.substr(0, 16).c_str(), static_cast<unsigned long long>(r["peers"].get<uint64_t>()));
  }
  if (up == 0)
    std::printf("all nodes down\n");
  else
    std::printf("%d of %zu up; %s\n", up, arr.size(), agree ? ("one tip " + tip.substr(0, 16)).c_str() : "tips differ");
  return all_up ? 0 : 1;
}

int testnet_stop(const TestnetOptions& o) {
  std::string why;
  auto nodes = load_state(o, why);
  if (!nodes) return fail(why);
  stop_nodes(*nodes, std::chrono::seconds(20), !o.json);
  ::unlink(state_path(o).c_str());
  if (o.json) std::printf("{\"stopped\":%zu}\n", nodes->size());
  return 0;
}

}  // namespace peerchain::apps::cli

// --- testnet record ----------------------------------------------------------------------------

namespace peerchain::apps::cli {

namespace {

std::atomic<int> g_record_signal{0};
extern "C" void on_record_signal(int sig) { g_record_signal.store(sig); }

struct Watched {
  int index = 0;
  uint16_t port = 0;
  std::string miner;
  std::unique_ptr<rpc::RpcClient> rpc;
  bool seen = false;  // answered at least once
  bool up = false;
  std::string tip;
  uint64_t height = 0;
  int64_t down_fault = 0;  // the crash fault while it does not answer
  // The node's own reorg events (its /ws stream): the depth it reports, even for a reorg that
  // happened between two polls.
  std::unique_ptr<load::EventStream> stream;
  std::shared_ptr<std::mutex> mu = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<Json>> reorgs = std::make_shared<std::vector<Json>>();
  void listen() {
    if (stream && stream->connected()) return;
    stream.reset();
    auto m = mu;
    auto q = reorgs;
    auto s = load::EventStream::open("127.0.0.1", port, "reorg", [m, q](const Json& ev, auto) {
      std::lock_guard lock(*m);
      if (q->size() < 1024) q->push_back(ev);
    });
    if (s) stream = std::move(*s);
  }
  std::vector<Json> take_reorgs() {
    std::lock_guard lock(*mu);
    return std::exchange(*reorgs, {});
  }
};

struct Known {
  std::string prev;
  uint64_t height = 0;
};

}  // namespace

int testnet_record(const TestnetOptions& o, const RecordOptions& r) {
  std::string why;
  auto nodes = load_state(o, why);
  if (!nodes) return fail(why);
  std::FILE* out = std::fopen(r.file.c_str(), "w");
  if (!out) return fail("cannot write " + r.file + ": " + std::strerror(errno));
  const auto start = Clock::now();
  int64_t last_t = 0;
  auto now_us = [&] {
    last_t = std::max<int64_t>(last_t, std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
    return last_t;
  };
  // Keys in the order written ("t", "ev", then the fields), as the simulator writes its lines.
  auto emit = [&](nlohmann::ordered_json e) {
    nlohmann::ordered_json line{{"t", now_us()}};
    for (auto& [k, v] : e.items()) line[k] = v;
    std::fprintf(out, "%s\n", line.dump().c_str());
  };
  std::fprintf(out, "%s\n", nlohmann::ordered_json{{"format", "peerchain-sim-trace"}, {"version", 1}, {"seed", 0}, {"nodes", nodes->size()},
                                 {"block_interval_ms", 0}, {"args", ""}, {"source", "peerchain-cli testnet record " + o.dir}}
                                .dump()
                                .c_str());
  std::vector<Watched> w;
  std::map<std::string, int> by_miner;
  std::map<uint16_t, int> by_port;
  for (const auto& n : *nodes) {
    Watched x;
    x.index = n.index;
    x.port = n.port;
    x.miner = n.miner;
    x.rpc = std::make_unique<rpc::RpcClient>("127.0.0.1", n.port, 2'000);
    if (!n.miner.empty()) by_miner[n.miner] = n.index;
    by_port[n.port] = n.index;
    emit({{"ev", "node"}, {"node", n.index}, {"host", "127.0.0.1:" + std::to_string(n.port)}, {"miner", n.miner}});
    w.push_back(std::move(x));
  }
  std::map<std::string, Known> known;                 // every block written
  std::set<std::pair<int, int>> connected;            // pairs seen connected
  std::map<std::pair<int, int>, int64_t> cut_faults;  // pairs seen connected, now not: their fault
  int64_t next_fault = 0;
  uint64_t blocks = 0, reorgs = 0;

  struct sigaction sa {};
  sa.sa_handler = on_record_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  if (!o.json) {
    std::printf("recording %zu nodes of %s to %s (Ctrl-C to stop)\n", w.size(), o.dir.c_str(), r.file.c_str());
    std::fflush(stdout);
  }
  auto last_peers = Clock::now() - std::chrono::hours(1);
  while (!g_record_signal.load()) {
    if (r.duration_s > 0 && Clock::now() - start >= std::chrono::duration<double>(r.duration_s)) break;
    const auto round_start = Clock::now();
    for (auto& x : w) {
      auto info = x.rpc->call("getblockchaininfo");
      if (!info) {
        if (x.up || !x.seen) {
          if (x.seen) {
            x.down_fault = ++next_fault;
            emit({{"ev", "fault"}, {"fault", x.down_fault}, {"kind", "crash"}, {"node", x.index}, {"by", "observer"},
                  {"why", info.error().to_string()}});
          }
          x.up = false;
        }
        x.rpc = std::make_unique<rpc::RpcClient>("127.0.0.1", x.port, 2'000);
        continue;
      }
      const std::string tip = info->value("tip", std::string());
      const uint64_t height = info->value("height", uint64_t{0});
      // Opened once the node answers (a paused node would hold the handshake).
      x.listen();
      const auto node_reorgs = x.take_reorgs();
      if (!x.up) {
        if (x.down_fault) emit({{"ev", "fault_end"}, {"fault", x.down_fault}, {"kind", "crash"}});
        x.down_fault = 0;
        if (!known.count(tip)) known[tip] = Known{"", height};  // where it starts (genesis, or where it was)
        emit({{"ev", "node_start"}, {"node", x.index}, {"height", height}, {"tip", tip}});
        x.up = x.seen = true;
        x.tip = tip;
        x.height = height;
      }
      if (tip == x.tip) continue;
      // The blocks it has that were not written yet, in height order: parents before children.
      const uint64_t low = std::min(height, x.height);
      uint64_t from = low > 100 ? low - 100 : 0;
      std::vector<Json> fresh;
      for (int pages = 0; pages < 50; ++pages) {
        auto tree = x.rpc->call("getblocktree", Json::array({from, 2000}));
        if (!tree) break;
        uint64_t top = from;
        for (const auto& b : (*tree)["blocks"]) {
          const std::string id = b.value("id", std::string());
          top = std::max(top, b.value("height", uint64_t{0}));
          if (!known.count(id) && b.value("status", std::string()) != "headers-only") fresh.push_back(b);
        }
        if (!(*tree).value("truncated", false) || top <= from) break;
        from = top;
      }
      std::sort(fresh.begin(), fresh.end(), [](const Json& a, const Json& b) { return a["height"] < b["height"]; });
      for (const auto& b : fresh) {
        const std::string id = b["id"].get<std::string>();
        if (known.count(id)) continue;
        const std::string prev = b.value("prev", std::string());
        const uint64_t h = b.value("height", uint64_t{0});
        known[id] = Known{prev, h};
        auto m = by_miner.find(b.value("miner", std::string()));
        ++blocks;
        emit({{"ev", "block_found"}, {"node", m != by_miner.end() ? m->second : x.index}, {"id", id}, {"height", h},
              {"parent", prev}, {"txs", b.contains("tx_count") && b["tx_count"].is_number() ? b["tx_count"].get<int64_t>() : 0}});
      }
      // Reorg depth: from the previous tip down to the last block it shares with the new one, or
      // the node's own number when it reported a deeper reorg since the last poll (one that
      // happened between two polls, from a tip this recorder never saw).
      std::set<std::string> line;
      for (std::string c = tip; !c.empty() && known.count(c); c = known[c].prev) line.insert(c);
      uint64_t depth = 0;
      for (std::string c = x.tip; !c.empty() && known.count(c) && !line.count(c); c = known[c].prev) ++depth;
      for (const auto& ev : node_reorgs) depth = std::max<uint64_t>(depth, ev.value("disconnected", uint64_t{0}));
      nlohmann::ordered_json ev{{"ev", "tip"}, {"node", x.index}, {"height", height}, {"id", tip}};
      if (depth) {
        ev["reorg_depth"] = depth;
        ++reorgs;
      }
      emit(ev);
      x.tip = tip;
      x.height = height;
    }
    // Who is connected to whom, every second: a pair that was connected and is not any more is
    // drawn cut until it connects again.
    if (Clock::now() - last_peers >= std::chrono::seconds(1)) {
      last_peers = Clock::now();
      std::set<std::pair<int, int>> now_connected;
      bool all_answered = true;
      for (auto& x : w) {
        if (!x.up) {
          all_answered = false;
          continue;
        }
        auto peers = x.rpc->call("getpeerinfo");
        if (!peers || !peers->is_array()) {
          all_answered = false;
          continue;
        }
        for (const auto& p : *peers) {
          std::string a = p.value("api_address", std::string());
          auto colon = a.rfind(':');
          if (colon == std::string::npos) continue;
          auto it = by_port.find(static_cast<uint16_t>(std::strtoul(a.c_str() + colon + 1, nullptr, 10)));
          if (it == by_port.end() || it->second == x.index) continue;
          now_connected.insert({std::min(x.index, it->second), std::max(x.index, it->second)});
        }
      }
      for (const auto& pr : now_connected) {
        if (connected.insert(pr).second) emit({{"ev", "link"}, {"a", pr.first}, {"b", pr.second}});
        if (auto f = cut_faults.find(pr); f != cut_faults.end()) {
          emit({{"ev", "fault_end"}, {"fault", f->second}, {"kind", "cut"}});
          cut_faults.erase(f);
        }
      }
      // A down node's links are its crash's business; judge only when every node answered.
      if (all_answered)
        for (const auto& pr : connected)
          if (!now_connected.count(pr) && !cut_faults.count(pr)) {
            cut_faults[pr] = ++next_fault;
            emit({{"ev", "fault"}, {"fault", cut_faults[pr]}, {"kind", "cut"}, {"a", pr.first}, {"b", pr.second}, {"by", "observer"}});
          }
    }
    std::fflush(out);
    const auto next_round = round_start + std::chrono::milliseconds(r.interval_ms);
    while (!g_record_signal.load() && Clock::now() < next_round) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  emit({{"ev", "end"}, {"ok", true}, {"faults", next_fault}});
  std::fclose(out);
  if (o.json)
    std::printf("%s\n", Json{{"file", r.file}, {"blocks", blocks}, {"reorgs", reorgs}, {"faults", next_fault}}.dump().c_str());
  else
    std::printf("recorded %llu blocks, %llu reorgs, %lld faults to %s\n", static_cast<unsigned long long>(blocks),
                static_cast<unsigned long long>(reorgs), static_cast<long long>(next_fault), r.file.c_str());
  return 0;
}

}  // namespace peerchain::apps::cli
