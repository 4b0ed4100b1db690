// crypto/merkle.h — Merkle root over transaction ids.
//
// RFC 6962 shape: leaves hashed with a 0x00 prefix, inner nodes with 0x01, and an odd node is
// carried up unchanged (never paired with itself). Bitcoin's tree duplicates the last node of
// an odd level, so [a,b,c] and [a,b,c,c] share a root (CVE-2012-2459); here every distinct
// list of leaves, including its length, gives a distinct root, and an inner node can never be
// passed off as a leaf. The root of no leaves is SHA-256 of the empty string.
#pragma once

#include <span>

#include "crypto/sha256.h"

namespace peerchain::crypto {

Hash256 merkle_root(std::span<const Hash256> leaves);

}  // namespace peerchain::crypto
