#include "crypto/merkle.h"

#include <vector>

namespace peerchain::crypto {

namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;

Hash256 leaf_hash(const Hash256& id) { return sha256_prefixed(kLeafPrefix, id); }

Hash256 node_hash(const Hash256& left, const Hash256& right) { return sha256_prefixed(kNodePrefix, left, right); }

}  // namespace

// RFC 6962 defines MTH(D[0:n]) recursively, splitting at the largest power of two k < n. The
// same tree is built bottom-up here: hash each level's nodes in adjacent pairs, left to right,
// and carry an unpaired last node up unchanged. (Both build the left-complete tree: the left
// subtree of every node is perfect, so every pairing the recursion makes is a left-to-right
// pairing on some level, and the odd node at the end of a level is exactly the recursion's
// right subtree that is still waiting for its sibling.) merkle_test checks this against the
// recursive definition for every n up to a few hundred.
//
// Cost: n leaf hashes (one compression each) + (n - 1) node hashes (two each), one allocation
// of n hashes, updated in place.
Hash256 merkle_root(std::span<const Hash256> leaves) {
  if (leaves.empty()) return sha256({});

  std::vector<Hash256> level(leaves.size());
  for (size_t i = 0; i < leaves.size(); ++i) level[i] = leaf_hash(leaves[i]);

  size_t n = level.size();
  while (n > 1) {
    size_t out = 0;
    for (size_t i = 0; i + 1 < n; i += 2) level[out++] = node_hash(level[i], level[i + 1]);
    if (n % 2 == 1) level[out++] = level[n - 1];  // carried, never paired with itself
    n = out;
  }
  return level[0];
}

}  // namespace peerchain::crypto
