#include "crypto/merkle.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <bit>
#include <vector>

using namespace peerchain;
using crypto::Hash256;
using util::Bytes;

namespace {

Hash256 id(uint8_t b) {
  Hash256 h;
  for (auto& x : h) x = b;
  return h;
}

Hash256 leaf_hash(const Hash256& x) {
  Bytes buf = {0x00};
  buf.insert(buf.end(), x.begin(), x.end());
  return crypto::sha256(buf);
}

Hash256 node_hash(const Hash256& l, const Hash256& r) {
  Bytes buf = {0x01};
  buf.insert(buf.end(), l.begin(), l.end());
  buf.insert(buf.end(), r.begin(), r.end());
  return crypto::sha256(buf);
}

// RFC 6962 section 2.1, literally: split at the largest power of two smaller than n.
Hash256 reference_root(std::span<const Hash256> d) {
  if (d.empty()) return crypto::sha256({});
  if (d.size() == 1) return leaf_hash(d[0]);
  size_t k = std::bit_floor(d.size() - 1);
  return node_hash(reference_root(d.first(k)), reference_root(d.subspan(k)));
}

std::vector<Hash256> leaves(size_t n) {
  std::vector<Hash256> v;
  for (size_t i = 0; i < n; ++i) {
    Hash256 h;
    h[0] = static_cast<uint8_t>(i);
    h[1] = static_cast<uint8_t>(i >> 8);
    h[31] = 0xab;
    v.push_back(h);
  }
  return v;
}

}  // namespace

TEST(Merkle, EmptyIsSha256OfEmptyString) {
  EXPECT_EQ(crypto::merkle_root({}).hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Merkle, HandComputedSmallTrees) {
  const Hash256 a = id(0xaa), b = id(0xbb), c = id(0xcc);
  std::vector<Hash256> one = {a}, two = {a, b}, three = {a, b, c};
  EXPECT_EQ(crypto::merkle_root(one), leaf_hash(a));
  EXPECT_NE(crypto::merkle_root(one), a);  // a leaf is always hashed
  EXPECT_EQ(crypto::merkle_root(two), node_hash(leaf_hash(a), leaf_hash(b)));
  // Three leaves: split at 2, so c is carried up and joins the root.
  EXPECT_EQ(crypto::merkle_root(three), node_hash(node_hash(leaf_hash(a), leaf_hash(b)), leaf_hash(c)));
  // Five: ((ab)(cd)) e.
  const Hash256 d = id(0xdd), e = id(0xee);
  std::vector<Hash256> five = {a, b, c, d, e};
  EXPECT_EQ(crypto::merkle_root(five),
            node_hash(node_hash(node_hash(leaf_hash(a), leaf_hash(b)), node_hash(leaf_hash(c), leaf_hash(d))),
                      leaf_hash(e)));
}

TEST(Merkle, HandComputedValue) {
  // leaf(0x00 * 32) = SHA-256(0x00 || 0x00 * 32) = SHA-256 of 33 zero bytes.
  std::vector<Hash256> one = {Hash256{}};
  EXPECT_EQ(crypto::merkle_root(one).hex(),
            "7f9c9e31ac8256ca2f258583df262dbc7d6f68f2a03043d5c99a4ae5a7396ce9");
}

TEST(Merkle, MatchesRecursiveDefinition) {
  for (size_t n = 0; n <= 300; ++n) {
    auto v = leaves(n);
    ASSERT_EQ(crypto::merkle_root(v), reference_root(v)) << "n = " << n;
  }
  for (size_t n : {511u, 512u, 513u, 1023u, 1025u, 5000u}) {
    auto v = leaves(n);
    ASSERT_EQ(crypto::merkle_root(v), reference_root(v)) << "n = " << n;
  }
}

TEST(Merkle, DuplicatedLastLeafChangesRoot) {
  // CVE-2012-2459: Bitcoin's tree gives [a,b,c] and [a,b,c,c] the same root.
  const Hash256 a = id(1), b = id(2), c = id(3);
  std::vector<Hash256> abc = {a, b, c}, abcc = {a, b, c, c};
  EXPECT_NE(crypto::merkle_root(abc), crypto::merkle_root(abcc));
  std::vector<Hash256> six = {a, b, c, a, b, c}, six_dup = {a, b, c, a, b, c, c, c};
  EXPECT_NE(crypto::merkle_root(six), crypto::merkle_root(six_dup));
}

TEST(Merkle, InnerNodeIsNotALeaf) {
  // The root of [a, b] is not the leaf hash of a || b (second-preimage resistance).
  const Hash256 a = id(4), b = id(5);
  std::vector<Hash256> two = {a, b};
  Bytes concat(a.begin(), a.end());
  concat.insert(concat.end(), b.begin(), b.end());
  Bytes leaf_of_concat = {0x00};
  leaf_of_concat.insert(leaf_of_concat.end(), concat.begin(), concat.end());
  EXPECT_NE(crypto::merkle_root(two), crypto::sha256(leaf_of_concat));
  EXPECT_NE(crypto::merkle_root(two), crypto::sha256(concat));
  // Nor does a one-leaf tree whose leaf is an inner node hash collide with the two-leaf tree.
  std::vector<Hash256> inner = {node_hash(leaf_hash(a), leaf_hash(b))};
  EXPECT_NE(crypto::merkle_root(two), crypto::merkle_root(inner));
}

RC_GTEST_PROP(Merkle, DifferentListsGiveDifferentRoots, ()) {
  const auto gen_list = rc::gen::container<std::vector<Hash256>>(
      rc::gen::map(rc::gen::container<Bytes>(32, rc::gen::inRange<uint8_t>(0, 4)),
                   [](const Bytes& b) { return Hash256::from_span(b); }));
  // Small alphabet so lists often share leaves, prefixes and duplicates.
  auto x = *gen_list;
  auto y = *gen_list;
  if (*rc::gen::inRange(0, 3) == 0 && !x.empty()) {
    y = x;
    y.push_back(x.back());  // the CVE-2012-2459 shape
  }
  RC_PRE(x != y);
  RC_ASSERT(crypto::merkle_root(x) != crypto::merkle_root(y));
}

RC_GTEST_PROP(Merkle, AgreesWithReference, ()) {
  const auto n = *rc::gen::inRange<size_t>(0, 200);
  auto v = *rc::gen::container<std::vector<Hash256>>(
      n, rc::gen::map(rc::gen::container<Bytes>(32, rc::gen::arbitrary<uint8_t>()),
                      [](const Bytes& b) { return Hash256::from_span(b); }));
  RC_ASSERT(crypto::merkle_root(v) == reference_root(v));
}
