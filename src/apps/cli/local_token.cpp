#include "apps/cli/local_token.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

namespace peerchain::apps::cli {

namespace fs = std::filesystem;

namespace {

// Socket inodes listening on `port` (state 0A) in /proc/net/tcp and tcp6.
std::set<std::string> listening_inodes(uint16_t port) {
  std::set<std::string> out;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string slot, local, remote, state, queues, timer, retr, uid, timeout, inode;
      if (!(f >> slot >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode)) continue;
      auto colon = local.rfind(':');
      if (colon == std::string::npos || state != "0A") continue;
      if (std::stoul(local.substr(colon + 1), nullptr, 16) == port) out.insert(inode);
    }
  }
  return out;
}

bool holds_socket(const fs::path& proc, const std::set<std::string>& inodes) {
  std::error_code ec;
  for (fs::directory_iterator it(proc / "fd", ec), end; !ec && it != end; it.increment(ec)) {
    auto target = fs::read_symlink(it->path(), ec);
    if (ec) {
      ec.clear();
      continue;
    }
    const std::string t = target.string();  // "socket:[12345]"
    if (t.rfind("socket:[", 0) == 0 && inodes.count(t.substr(8, t.size() - 9))) return true;
  }
  return false;
}

std::vector<std::string> cmdline(const fs::path& proc) {
  std::ifstream in(proc / "cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(in, arg, '\0')) args.push_back(arg);
  return args;
}

// The node's home from its argv: --home DIR / --home=DIR, else the program's default.
std::optional<std::string> home_of(const std::vector<std::string>& args) {
  if (args.empty()) return std::nullopt;
  const std::string prog = fs::path(args[0]).filename().string();
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--home" && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind("--home=", 0) == 0) return args[i].substr(7);
  }
  if (prog == "peerchaind") return "./peerchain-home";
  if (prog == "server" && args.size() > 1) return "./peerchain-" + args[1];
  return std::nullopt;
}

}  // namespace

std::optional<LocalToken> find_local_api_token(uint16_t port) {
  const auto inodes = listening_inodes(port);
  if (inodes.empty()) return std::nullopt;
  std::error_code ec;
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string pid = it->path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (!holds_socket(it->path(), inodes)) continue;
    auto home = home_of(cmdline(it->path()));
    if (!home) return std::nullopt;
    std::error_code cwd_ec;
    fs::path dir = fs::path(*home).is_absolute() ? fs::path(*home) : fs::read_symlink(it->path() / "cwd", cwd_ec) / *home;
    if (cwd_ec) return std::nullopt;
    fs::path file = (dir / "api.token").lexically_normal();
    std::ifstream in(file);
    std::string token;
    if (!(in >> token) || token.empty()) return std::nullopt;
    return LocalToken{token, file.string()};
  }
  return std::nullopt;
}

}  // namespace peerchain::apps::cli
