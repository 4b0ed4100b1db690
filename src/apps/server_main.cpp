// server — the seed's command line on top of peerchaind:
//   server PORT N HOST1 PORT1 ... HOSTN PORTN
// where a HOST may be NODEID@HOST to pin that peer's identity (encrypted links, on by default).
// starts a dev-network node listening on PORT, mining, with those N peers. Its data directory
// is ./peerchain-PORT (printed at start), so running the same command again resumes from disk.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "apps/node_runner.h"
#include "util/log.h"
#include "util/version.h"

using namespace peerchain;

namespace {
int usage(const char* why) {
  std::fprintf(stderr, "error: %s\nusage: server PORT N [NODEID@]HOST1 PORT1 ... [NODEID@]HOSTN PORTN\n", why);
  return 2;
}
bool parse_port(const std::string& s, uint16_t& out) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  unsigned long v = std::stoul(s);
  if (v == 0 || v > 65535) return false;
  out = static_cast<uint16_t>(v);
  return true;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--version") {
    std::printf("%s\n", util::version_line("server").c_str());
    return 0;
  }
  if (argc < 3) return usage("PORT and N are required");
  node::NodeOptions o;
  if (!parse_port(argv[1], o.port)) return usage("PORT must be 1..65535");
  std::string n_str = argv[2];
  if (n_str.empty() || n_str.size() > 3 || n_str.find_first_not_of("0123456789") != std::string::npos)
    return usage("N must be a small non-negative number");
  int n = std::stoi(n_str);
  if (argc != 3 + 2 * n) return usage(("N is " + std::to_string(n) + " but " + std::to_string(argc - 3) +
                                       " host/port arguments follow").c_str());
  for (int i = 0; i < n; ++i) {
    node::PeerAddress a;
    a.host = argv[3 + 2 * i];
    if (auto at = a.host.find('@'); at != std::string::npos) {
      auto id = net::parse_node_id(a.host.substr(0, at));
      if (!id) return usage(("peer " + a.host + ": " + id.error().message).c_str());
      a.node_id = *id;
      a.host = a.host.substr(at + 1);
    }
    if (!parse_port(argv[4 + 2 * i], a.port)) return usage("peer ports must be 1..65535");
    o.peers.push_back(a);
  }
  o.network = "dev";
  o.mine = true;
  o.data_dir = "./peerchain-" + std::to_string(o.port);
  util::set_log_level(std::getenv("PEERCHAIN_LOG") ? std::getenv("PEERCHAIN_LOG") : "info");
  std::printf("server: data directory %s\n", o.data_dir.c_str());
  return apps::run_node(o);
}
