// node/protocol.h — the node's peer messages (types >= 16) and their payloads
// (docs/spec/p2p.md, "Node messages"). Net frames them; this file knows blocks and transactions.
//
//   inv, getdata, notfound  CompactSize n (<= kMaxInv) | n x (kind u8 | id 32)
//   tx                      transaction (156 bytes)
//   block                   block encoding
//   getheaders              CompactSize n (<= kMaxLocator) | n x id 32   (a locator)
//   headers                 CompactSize n (<= kMaxHeaders) | n x header (118)
//   mempool                 empty: "send me an inv of your mempool" (BIP35), once per connection
//   txs                     CompactSize n (1..kMaxTxsPerMessage) | n x transaction (156): the
//                           answer to a getdata of transfers, batched (peers of protocol >= 2)
//   sendcmpct, cmpctblock, getblocktxn, blocktxn   compact block relay: node/compact.h
//
// Decoders are strict and bound every count before allocating. Pure; thread-safe.
#pragma once

#include <span>
#include <vector>

#include "consensus/params.h"
#include "net/frame.h"
#include "primitives/block.h"

namespace peerchain::node {

namespace msg {
inline constexpr uint16_t kInv = 16;
inline constexpr uint16_t kGetData = 17;
inline constexpr uint16_t kTx = 18;
inline constexpr uint16_t kBlock = 19;
inline constexpr uint16_t kGetHeaders = 20;
inline constexpr uint16_t kHeaders = 21;
inline constexpr uint16_t kNotFound = 22;
inline constexpr uint16_t kMempool = 23;
// Compact block relay (node/compact.h).
inline constexpr uint16_t kSendCmpct = 24;
inline constexpr uint16_t kCmpctBlock = 25;
inline constexpr uint16_t kGetBlockTxn = 26;
inline constexpr uint16_t kBlockTxn = 27;
// Batched transfer relay (protocol version 2).
inline constexpr uint16_t kTxs = 28;
}  // namespace msg

// The first protocol version whose peers understand `txs` (net::kProtocolVersion is 2): a getdata
// from such a peer is answered with `txs` batches, one from an older peer with one `tx` per transfer.
inline constexpr uint32_t kProtocolVersionTxs = 2;
inline constexpr size_t kMaxTxsPerMessage = 1000;

inline constexpr size_t kMaxInv = 5000;
inline constexpr size_t kMaxLocator = 101;
inline constexpr size_t kMaxHeaders = 2000;

// kCmpctBlock (getdata only): the block as a sketch (`cmpctblock`) if the sender still holds
// it among its recent blocks, else whole; low-bandwidth compact relay (docs/spec/p2p.md).
enum class InvKind : uint8_t { kTx = 1, kBlock = 2, kCmpctBlock = 3 };

struct InvItem {
  InvKind kind;
  crypto::Hash256 id;
  bool operator==(const InvItem&) const = default;
};

// The caps of every node message type, for net's frame decoder.
net::MessageLimits node_message_limits(const consensus::Params& params);

util::Bytes encode_inv(const std::vector<InvItem>& items);  // REQUIRES: items.size() <= kMaxInv
util::Result<std::vector<InvItem>> decode_inv(util::ByteSpan payload);

util::Bytes encode_locator(const std::vector<primitives::BlockId>& ids);  // REQUIRES: <= kMaxLocator
util::Result<std::vector<primitives::BlockId>> decode_locator(util::ByteSpan payload);

// REQUIRES: 1 <= txs.size() <= kMaxTxsPerMessage.
util::Bytes encode_txs(std::span<const primitives::Transaction* const> txs);
util::Result<std::vector<primitives::Transaction>> decode_txs(util::ByteSpan payload);

util::Bytes encode_headers(const std::vector<primitives::BlockHeader>& headers);  // REQUIRES: <= kMaxHeaders
util::Result<std::vector<primitives::BlockHeader>> decode_headers(util::ByteSpan payload);

}  // namespace peerchain::node
