#include "apps/node_runner.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "apps/config.h"
#include "crypto/random.h"
#include "rpc/node_api.h"
#include "util/host_port.h"
#include "util/log.h"

namespace peerchain::apps {

std::optional<node::PeerAddress> parse_peer(const std::string& s) {
  std::optional<net::NodeId> id;
  std::string rest = s;
  if (auto at = s.find('@'); at != std::string::npos) {
    auto parsed = net::parse_node_id(s.substr(0, at));
    if (!parsed) return std::nullopt;
    id = *parsed;
    rest = s.substr(at + 1);
  }
  auto hp = util::parse_host_port(rest);
  if (!hp) return std::nullopt;
  return node::PeerAddress{hp->host, hp->port, id};
}

namespace {

bool is_loopback(const std::string& host) {
  return host.rfind("127.", 0) == 0 || host == "::1" || host == "localhost";
}

// A random token in HOME/api.token, readable by the owner only.
std::optional<std::string> make_token_file(const std::string& home) {
  util::FixedBytes<16> raw;
  crypto::random_bytes(raw.data);
  std::string token = raw.hex();
  std::string path = home + "/api.token";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return std::nullopt;
  ::fchmod(fd, 0600);
  bool ok = ::write(fd, token.data(), token.size()) == static_cast<ssize_t>(token.size());
  ::close(fd);
  if (!ok) return std::nullopt;
  return token;
}

}  // namespace

int run_node(node::NodeOptions opts, ApiOptions api, int64_t clock_offset_ms) {
  // glibc gives threads that allocate at once their own heap arenas, up to 8 per core, and a
  // freed block stays in its arena: with the API, admission, verify and block threads all
  // passing transfers around, memory spread over many arenas and RSS crept up. Two arenas
  // measured 30-35 MB less peak RSS per node over 1,000,000 transfers at the same CPU time
  // (docs/performance.md). MALLOC_ARENA_MAX in the environment still decides, if set.
  if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 2);
  // Block the stop signals in every thread; this one waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);  // reopens the log file (logrotate); never stops the node
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  if (!opts.identity) {
    auto id = load_or_create_node_identity(opts.data_dir);
    if (!id) {
      std::fprintf(stderr, "error: %s\n", id.error().to_string().c_str());
      return 1;
    }
    opts.identity = std::make_shared<const net::NodeIdentity>(*id);
  }
  static util::SystemClock clock;
  clock.set_offset_ms(clock_offset_ms);
  // The real world: wall clock, timer and worker threads, TCP, RocksDB (node/services.h).
  static node::RealWorld world(clock);
  auto n = node::Node::create(opts, world.services());
  if (!n) {
    std::fprintf(stderr, "error: %s\n", n.error().to_string().c_str());
    return 1;
  }
  node::Node& node = **n;
  rpc::ApiState state;
  state.admin_token = api.token;
  if (opts.network == "dev") state.clock = &clock;
  state.request_stop = [] { ::kill(::getpid(), SIGTERM); };  // the signal loop below shuts down cleanly
  if (state.admin_token.empty() && !is_loopback(opts.listen_host)) {
    auto t = make_token_file(opts.data_dir);
    if (!t) {
      std::fprintf(stderr, "error: cannot write %s/api.token\n", opts.data_dir.c_str());
      return 1;
    }
    state.admin_token = *t;
    std::printf("peerchaind: admin methods need the token in %s/api.token\n", opts.data_dir.c_str());
  }
  rpc::Dispatcher pub, admin;
  rpc::register_node_methods(pub, node, state, false);
  rpc::register_node_methods(admin, node, state, true);
  rpc::HttpOptions ho;
  ho.ws_topics = {"block", "reorg", "tx"};  // what the listeners below publish
  ho.threads = 16;  // waitfortransaction blocks a thread; at most state.max_waiters of them
  rpc::HttpServer http(ho, [&](const rpc::HttpRequest& r) { return rpc::route(r, pub, admin, node, state, &http); });
  http.start();
  // The tip before each change: a reorg's fork height is it less the blocks disconnected.
  std::atomic<uint32_t> last_height{node.chain().tip().height};
  node.add_listener({[&](const chain::TipInfo& tip, uint32_t disconnected) {
                       state.blocks_connected.fetch_add(1);
                       const uint32_t before = last_height.exchange(tip.height);
                       util::log().debug("new tip {} height {}{}", tip.id.hex(), tip.height,
                                         disconnected ? fmt::format(" ({} blocks disconnected)", disconnected) : "");
                       if (disconnected) {
                         state.reorgs.fetch_add(1);
                         http.publish("reorg", rpc::Json{{"type", "reorg"}, {"disconnected", disconnected},
                                                {"fork_height", before >= disconnected ? before - disconnected : 0},
                                                {"height", tip.height}, {"tip", tip.id.hex()}}.dump());
                       }
                       http.publish("block", rpc::Json{{"type", "block"}, {"height", tip.height}, {"id", tip.id.hex()},
                                              {"time_ms", tip.time_ms}}.dump());
                     },
                     [&](const primitives::TxId& id) {
                       state.tx_accepted.fetch_add(1);
                       if (http.websocket_clients("tx")) http.publish("tx", rpc::Json{{"type", "tx"}, {"id", id.hex()}}.dump());
                     }});
  node.set_foreign_handler([&http](boost::asio::ip::tcp::socket s, util::Bytes first) { http.adopt(std::move(s), std::move(first)); });
  if (auto st = node.start(); !st) {
    std::fprintf(stderr, "error: %s\n", st.error().to_string().c_str());
    return 1;
  }
  std::printf("peerchaind: network %s, listening on %s:%u, data in %s, height %u, mining %s\n",
              node.params().network.c_str(), opts.listen_host.c_str(), node.port(), opts.data_dir.c_str(),
              node.chain().tip().height, opts.mine ? "on" : "off");
  if (auto id = node.node_id())
    std::printf("peerchaind: node id %s%s\n", id->hex().c_str(),
                opts.allow_list ? (" (private network: " + std::to_string(opts.allow_list->size()) + " nodes allowed)").c_str() : "");
  else
    std::printf("peerchaind: peer encryption OFF (test-only)\n");
  std::fflush(stdout);
  int sig = 0;
  for (;;) {
    sigwait(&set, &sig);
    if (sig != SIGHUP) break;
    if (auto st = util::reopen_log_file(); !st)
      std::fprintf(stderr, "peerchaind: SIGHUP: %s (still writing the old file)\n", st.error().message.c_str());
    else
      util::log().info("SIGHUP: log file reopened");
  }
  util::log().info("signal {}: shutting down", sig);
  node.stop();
  http.stop();
  if (auto fatal = node.fatal_error()) {  // the node stopped itself: say why, exit 3
    std::fprintf(stderr, "error: %s\n", fatal->c_str());
    return 3;
  }
  std::printf("peerchaind: stopped cleanly at height %u\n", node.chain().tip().height);
  return 0;
}

}  // namespace peerchain::apps
