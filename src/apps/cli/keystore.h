// apps/cli/keystore.h — the client's private keys, kept in one JSON file (HOME/keys.json).
//
// The file is created with mode 0600 in a directory created with mode 0700, written atomically
// (temporary file + fsync + rename), and refused when it is readable or writable by group or
// others, so a secret never sits in a world-readable place. Secrets never leave the process:
// callers sign locally.
// Format: {"version": 1, "keys": [{"name": "...", "secret": "<64 hex>", "dev": bool}]}; `dev`
// marks a development account key (public knowledge), which the client refuses to use off the
// dev network.
// Thread-safety: none (one CLI invocation owns a KeyStore).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "crypto/schnorr.h"
#include "util/result.h"

namespace peerchain::apps::cli {

struct StoredKey {
  std::string name;
  crypto::SecretKey secret;
  bool dev = false;
};

class KeyStore {
 public:
  // Reads DIR/keys.json if it exists (an absent file is an empty store). Errors: "permissions"
  // (file open to group/other), "io", "corrupt".
  static util::Result<KeyStore> open(const std::string& dir);

  const std::vector<StoredKey>& keys() const { return keys_; }
  const StoredKey* find(const std::string& name) const;
  // Adds a key and saves the file. Errors: "bad-name", "exists", "io".
  util::Result<void> add(StoredKey key);
  std::string path() const { return dir_ + "/keys.json"; }

  // Names are 1..64 characters of [A-Za-z0-9_.-], not starting with '-'.
  static bool valid_name(const std::string& name);

 private:
  explicit KeyStore(std::string dir) : dir_(std::move(dir)) {}
  util::Result<void> save() const;

  std::string dir_;
  std::vector<StoredKey> keys_;
};

}  // namespace peerchain::apps::cli
