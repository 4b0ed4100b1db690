#include "apps/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <toml++/toml.h>

#include "consensus/params.h"
#include "crypto/random.h"
#include "crypto/schnorr.h"
#include "primitives/address.h"

namespace peerchain::apps {

util::Result<FileConfig> load_config(const std::string& path, bool must_exist) {
  FileConfig c;
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (st.type() == std::filesystem::file_type::not_found) {
    if (must_exist) return util::fail("bad-config", path + " does not exist");
    return c;
  }
  if (ec) return util::fail("bad-config", path + ": " + ec.message());
  if (st.type() != std::filesystem::file_type::regular)
    return util::fail("bad-config", path + " is not a regular file");
  constexpr uintmax_t kMaxConfigBytes = 1 << 20;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return util::fail("bad-config", path + ": " + ec.message());
  if (size > kMaxConfigBytes) return util::fail("bad-config", path + " is larger than 1 MiB");
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return util::fail("bad-config", path + ":" + std::to_string(e.source().begin.line) + ": " +
                                        std::string(e.description()));
  }
  static const std::set<std::string> known{"network", "listen", "port", "peers", "mine", "miner", "hash_rate",
                                           "ban_seconds", "log_level", "api_token", "discover", "log_file",
                                           "allow_nodes", "allow_list", "p2p_encryption"};
  for (const auto& [k, v] : t)
    if (!known.count(std::string(k.str())))
      return util::fail("bad-config", path + ": unknown setting '" + std::string(k.str()) + "'");
  auto bad = [&](const char* key, const char* type) {
    return util::fail("bad-config", path + ": '" + std::string(key) + "' must be " + type);
  };
  auto str = [&](const char* key, std::optional<std::string>& out) -> bool {
    if (!t.contains(key)) return true;
    auto v = t[key].value<std::string>();
    if (!v) return false;
    out = *v;
    return true;
  };
  if (!str("network", c.network)) return bad("network", "a string");
  if (!str("listen", c.listen)) return bad("listen", "a string");
  if (!str("miner", c.miner)) return bad("miner", "a string");
  if (!str("log_level", c.log_level)) return bad("log_level", "a string");
  if (!str("api_token", c.api_token)) return bad("api_token", "a string");
  if (!str("log_file", c.log_file)) return bad("log_file", "a string (a path)");
  if (!str("allow_list", c.allow_list)) return bad("allow_list", "a string (a path)");
  if (!str("p2p_encryption", c.p2p_encryption) || (c.p2p_encryption && *c.p2p_encryption != "on" &&
                                                   *c.p2p_encryption != "off"))
    return bad("p2p_encryption", "\"on\" or \"off\" (off is for tests only)");
  if (t.contains("allow_nodes")) {
    auto* arr = t["allow_nodes"].as_array();
    if (!arr) return bad("allow_nodes", "an array of node ids (64 hex digits)");
    c.allow_nodes.emplace();
    for (const auto& e : *arr) {
      auto v = e.value<std::string>();
      if (!v || !net::parse_node_id(*v)) return bad("allow_nodes", "an array of node ids (64 hex digits)");
      c.allow_nodes->push_back(*v);
    }
  }
  // Integers are written in decimal: TOML's 0x/0o/0b forms are refused like on the command line.
  auto decimal = [&](const char* key) {
    const auto* n = t[key].as_integer();
    return n && n->flags() == toml::value_flags::none;
  };
  if (t.contains("port")) {
    auto v = t["port"].value<int64_t>();
    if (!v || !decimal("port") || *v < 1 || *v > 65535) return bad("port", "a decimal integer 1..65535");
    c.port = *v;
  }
  if (t.contains("ban_seconds")) {
    auto v = t["ban_seconds"].value<int64_t>();
    if (!v || !decimal("ban_seconds") || *v < 0 || *v > kMaxBanSeconds)
      return bad("ban_seconds", "a decimal integer 0..315360000 (ten years)");
    c.ban_seconds = *v;
  }
  if (t.contains("hash_rate")) {
    auto v = t["hash_rate"].value<double>();
    if (!v || !std::isfinite(*v) || *v < 0 || *v > kMaxHashRate)
      return bad("hash_rate", "a finite number 0..1e12");
    c.hash_rate = *v;
  }
  for (const char* key : {"mine", "discover"}) {
    if (!t.contains(key)) continue;
    auto v = t[key].value<bool>();
    if (!v) return bad(key, "true or false");
    (std::string(key) == "mine" ? c.mine : c.discover) = *v;
  }
  if (t.contains("peers")) {
    auto* arr = t["peers"].as_array();
    if (!arr) return bad("peers", "an array of \"HOST:PORT\" strings");
    for (const auto& e : *arr) {
      auto v = e.value<std::string>();
      if (!v) return bad("peers", "an array of \"HOST:PORT\" or \"NODEID@HOST:PORT\" strings");
      c.peers.push_back(*v);
    }
  }
  return c;
}

util::Result<std::string> init_home(const std::string& home, const std::string& network) {
  auto params = consensus::params_for(network);
  if (!params) return util::fail("bad-options", "unknown network '" + network + "'");
  std::error_code ec;
  std::filesystem::create_directories(home, ec);
  if (ec) return util::fail("io", "cannot create " + home + ": " + ec.message());
  ::chmod(home.c_str(), 0700);
  std::string cfg = home + "/peerchain.toml", keyfile = home + "/node_key";
  if (std::filesystem::exists(cfg) || std::filesystem::exists(keyfile))
    return util::fail("exists", home + " is already initialised (peerchain.toml or node_key exists)");
  auto key = crypto::SecretKey::generate();
  int fd = ::open(keyfile.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return util::fail("io", "cannot write " + keyfile);
  std::string hex = key.bytes().hex() + "\n";
  bool ok = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
  ::close(fd);
  if (!ok) return util::fail("io", "cannot write " + keyfile);
  if (auto id = load_or_create_node_identity(home); !id) return util::unexpected(id.error());
  std::string address = primitives::encode_address(params->address_prefix, key.pubkey());
  std::ofstream out(cfg);
  out << "# peerchaind configuration. Command-line flags override these settings.\n"
      << "\n# Network: \"dev\" (development chain, funded dev accounts) or \"main\".\n"
      << "network = \"" << network << "\"\n"
      << "\n# Address to listen on for peers and clients (one port serves both).\n"
      << "listen = \"0.0.0.0\"\n"
      << "\n# Port (default for " << network << ": " << params->default_port << ").\n"
      << "port = " << params->default_port << "\n"
      << "\n# Peers to keep connected to, redialled forever: [\"10.0.0.2:" << params->default_port << "\"]\n"
      << "# \"NODEID@10.0.0.2:" << params->default_port << "\" also pins the peer's identity (its node id: `peerchaind nodeid`).\n"
      << "peers = []\n"
      << "\n# A private network: only these node ids may connect, either way (unset: anyone).\n"
      << "# allow_nodes = [\"<64 hex digits>\"]\n"
      << "# allow_list = \"" << home << "/allowed_nodes\"   # one node id per line\n"
      << "\n# Also dial addresses learned from peers (address gossip).\n"
      << "discover = true\n"
      << "\n# Mine blocks, paying this address (its secret key is in node_key, mode 0600).\n"
      << "mine = false\n"
      << "miner = \"" << address << "\"\n"
      << "\n# Miner cap in hashes per second (0 = none). Unset: the network's default.\n"
      << "# hash_rate = 50000\n"
      << "\n# Seconds a misbehaving peer stays banned.\n"
      << "ban_seconds = 600\n"
      << "\n# trace | debug | info | warn | error | off\n"
      << "log_level = \"info\"\n"
      << "\n# Log to this file instead of stdout, rotated past 64 MiB (5 kept); SIGHUP reopens it.\n"
      << "# log_file = \"" << home << "/peerchaind.log\"\n"
      << "\n# Token for admin API methods (addpeer, removepeer, generate). Unset: none on loopback,\n"
      << "# otherwise generated into api.token at start.\n"
      << "# api_token = \"...\"\n";
  if (!out) return util::fail("io", "cannot write " + cfg);
  return address;
}

util::Result<net::NodeIdentity> load_or_create_node_identity(const std::string& home) {
  std::string path = home + "/node_id_key";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    std::filesystem::create_directories(home, ec);  // first start of a node without init
    if (ec) return util::fail("io", "cannot create " + home + ": " + ec.message());
    net::KeySeed seed;
    crypto::random_bytes(seed.data);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return util::fail("io", "cannot create " + path + ": " + std::strerror(errno));
    std::string hex = seed.hex() + "\n";
    bool ok = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return util::fail("io", "cannot write " + path);
    return net::NodeIdentity::from_seed(seed);
  }
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return util::fail("bad-key", "cannot read " + path);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  auto seed = net::KeySeed::from_hex(line);
  if (!seed) return util::fail("bad-key", path + " must hold 64 hex digits (a 32-byte seed); it is kept as it is");
  return net::NodeIdentity::from_seed(*seed);
}

util::Result<std::vector<net::NodeId>> load_allow_list(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return util::fail("bad-allow-list", path + ": " + ec.message());
  if (size > (1u << 20)) return util::fail("bad-allow-list", path + " is larger than 1 MiB");
  std::ifstream in(path);
  if (!in) return util::fail("bad-allow-list", "cannot read " + path);
  std::vector<net::NodeId> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    auto b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
    if (b == std::string::npos) continue;
    auto id = net::parse_node_id(line.substr(b, e - b + 1));
    if (!id) return util::fail("bad-allow-list", path + ":" + std::to_string(n) + ": " + id.error().message);
    if (out.size() == 10'000) return util::fail("bad-allow-list", path + " lists more than 10000 node ids");
    out.push_back(*id);
  }
  return out;
}

}  // namespace peerchain::apps
