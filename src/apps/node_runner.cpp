#include "apps/node_runner.h"

#include <csignal>
#include <cstdio>

#include "rpc/node_api.h"
#include "util/log.h"

namespace peerchain::apps {

std::optional<node::PeerAddress> parse_peer(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= s.size()) return std::nullopt;
  std::string host = s.substr(0, colon), port = s.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) return std::nullopt;
  unsigned long p = std::stoul(port);
  if (p == 0 || p > 65535) return std::nullopt;
  return node::PeerAddress{host, static_cast<uint16_t>(p)};
}

int run_node(node::NodeOptions opts) {
  // Block the stop signals in every thread; this one waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  static util::SystemClock clock;
  auto n = node::Node::create(opts, clock);
  if (!n) {
    std::fprintf(stderr, "error: %s\n", n.error().to_string().c_str());
    return 1;
  }
  node::Node& node = **n;
  rpc::Dispatcher dispatcher;
  rpc::register_node_methods(dispatcher, node);
  rpc::HttpServer http(rpc::HttpOptions{}, [&](const rpc::HttpRequest& r) { return rpc::route(r, dispatcher, node); });
  http.start();
  node.set_foreign_handler([&http](boost::asio::ip::tcp::socket s, util::Bytes first) { http.adopt(std::move(s), std::move(first)); });
  if (auto st = node.start(); !st) {
    std::fprintf(stderr, "error: %s\n", st.error().to_string().c_str());
    return 1;
  }
  std::printf("peerchaind: network %s, listening on %s:%u, data in %s, height %u, mining %s\n",
              node.params().network.c_str(), opts.listen_host.c_str(), node.port(), opts.data_dir.c_str(),
              node.chain().tip().height, opts.mine ? "on" : "off");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  util::log().info("signal {}: shutting down", sig);
  node.stop();
  http.stop();
  std::printf("peerchaind: stopped cleanly at height %u\n", node.chain().tip().height);
  return 0;
}

}  // namespace peerchain::apps
