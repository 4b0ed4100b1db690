#include "apps/cli/keystore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

namespace peerchain::apps::cli {

namespace {

using Json = nlohmann::json;

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

std::string mode_text(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// Creates `dir` (and missing parents) with mode 0700.
util::Result<void> make_dirs(const std::string& dir) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    cur = dir.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) return util::fail("io", errno_text("cannot create", cur));
  }
  return {};
}

}  // namespace

bool KeyStore::valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '-') return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  return true;
}

util::Result<KeyStore> KeyStore::open(const std::string& dir) {
  KeyStore ks(dir);
  std::string path = ks.path();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return ks;
    return util::fail("io", errno_text("cannot open", path));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return util::fail("io", errno_text("cannot stat", path));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return util::fail("permissions", "keys file " + path + " is accessible by group/other (mode " +
                                         mode_text(st.st_mode) + "); refusing to use it: run chmod 600 " + path);
  }
  if (st.st_uid != ::geteuid()) {
    ::close(fd);
    return util::fail("permissions", "keys file " + path + " is owned by another user; refusing to use it");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return util::fail("io", errno_text("cannot read", path));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("keys") || !j["keys"].is_array())
    return util::fail("corrupt", "keys file " + path + " is not a peerchain key file");
  for (const auto& k : j["keys"]) {
    if (!k.is_object() || !k.contains("name") || !k["name"].is_string() || !k.contains("secret") ||
        !k["secret"].is_string())
      return util::fail("corrupt", "keys file " + path + " has a malformed entry");
    auto bytes = util::FixedBytes<32>::from_hex(k["secret"].get<std::string>());
    auto sk = bytes ? crypto::SecretKey::from_bytes(*bytes) : std::nullopt;
    if (!sk) return util::fail("corrupt", "keys file " + path + ": key '" + k["name"].get<std::string>() + "' is invalid");
    bool dev = k.contains("dev") && k["dev"].is_boolean() && k["dev"].get<bool>();
    ks.keys_.push_back(StoredKey{k["name"].get<std::string>(), *sk, dev});
  }
  return ks;
}

const StoredKey* KeyStore::find(const std::string& name) const {
  for (const auto& k : keys_)
    if (k.name == name) return &k;
  return nullptr;
}

util::Result<void> KeyStore::add(StoredKey key) {
  if (!valid_name(key.name))
    return util::fail("bad-name", "key name '" + key.name + "' must be 1-64 characters of A-Z a-z 0-9 _ . -");
  if (find(key.name)) return util::fail("exists", "a key named '" + key.name + "' already exists");
  keys_.push_back(std::move(key));
  auto r = save();
  if (!r) keys_.pop_back();
  return r;
}

util::Result<void> KeyStore::save() const {
  if (auto r = make_dirs(dir_); !r) return r;
  Json arr = Json::array();
  for (const auto& k : keys_) arr.push_back({{"name", k.name}, {"secret", k.secret.bytes().hex()}, {"dev", k.dev}});
  std::string text = Json{{"version", 1}, {"keys", arr}}.dump(2) + "\n";
  std::string tmp = path() + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return util::fail("io", errno_text("cannot create", tmp));
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return util::fail("io", errno_text("cannot write", tmp));
    }
    off += static_cast<size_t>(n);
  }
  if (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return util::fail("io", errno_text("cannot sync", tmp));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path().c_str()) != 0) {
    ::unlink(tmp.c_str());
    return util::fail("io", errno_text("cannot replace", path()));
  }
  int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

}  // namespace peerchain::apps::cli
