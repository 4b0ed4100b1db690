// storage/schema.h — what the chain keeps in each column and how it is encoded.
//
//   kBlocks      id -> encode_block
//   kBlockIndex  id -> header(118) | status u8 | sequence u64
//   kAccounts    key(32) -> encode_account (16); absent == empty account
//   kUndo        id -> CompactSize(n) | n x (key 32 | existed u8 | account 16)
//   kTxIndex     txid -> block id 32 | position u32
//   kMeta        "schema" -> u32, "genesis" -> id, "tip" -> id, "indexed_tip" -> id (the last block
//                whose kTxIndex records are written: an ancestor of "tip" or "tip" itself; absent
//                in a database written before ADR 0026, whose index was the tip's)
//   kMempool     sender 32 | nonce u64 big-endian | txid 32 -> encode_transaction (156): the journal of
//                acknowledged transfers, in (sender, nonce) order so a run of one sender's
//                records is written in key order and erased by one range (ADR 0018). Schema 1
//                keyed it by txid; ChainState::load rewrites such a journal once.
// Every decoder is strict (exact sizes, bounded counts): a corrupt record is reported, never
// trusted.
#pragma once

#include <array>
#include <optional>
#include <string_view>
#include <vector>

#include "primitives/account.h"
#include "primitives/block.h"

namespace peerchain::storage {

inline constexpr uint32_t kSchemaVersion = 2;
inline constexpr uint32_t kSchemaJournalByTxid = 1;  // the schema before ADR 0018, upgraded at open
inline constexpr std::string_view kMetaSchema = "schema";
// The "schema" record's value: the version as u32 little-endian (docs/spec/encoding.md).
util::Bytes encode_schema_version(uint32_t version);
inline constexpr std::string_view kMetaGenesis = "genesis";
inline constexpr std::string_view kMetaTip = "tip";
inline constexpr std::string_view kMetaIndexedTip = "indexed_tip";

enum BlockStatus : uint8_t {
  kStatusHaveData = 1,  // the full block is stored
  kStatusFailed = 2,    // the block (or an ancestor) is invalid
};

struct BlockIndexRecord {
  primitives::BlockHeader header;
  uint8_t status = 0;
  uint64_t sequence = 0;  // order in which block data arrived (fork choice tie-break)
};
util::Bytes encode_index_record(const BlockIndexRecord& r);
util::Result<BlockIndexRecord> decode_index_record(util::ByteSpan in);

struct AccountUndo {
  primitives::AccountKey key;
  std::optional<primitives::Account> prior;  // nullopt: the account did not exist before
};
struct UndoRecord {
  std::vector<AccountUndo> accounts;
};
util::Bytes encode_undo(const UndoRecord& u);
util::Result<UndoRecord> decode_undo(util::ByteSpan in);

// The journal record's key of `sender`'s transfer `id` with `nonce`: sender 32 | nonce 8
// big-endian | txid 32, so bytewise order is (sender, nonce) order. Two transfers at one nonce (a
// replacement and the one it replaced) have two keys: admission batches are written outside the
// chain lock and may land in any order, and neither can then erase or overwrite the other's
// record (replay keeps the higher fee). A range of nonces is [journal_bound(sender, a),
// journal_bound(sender, e)).
inline constexpr size_t kJournalKeySize = 72;
using JournalKey = std::array<uint8_t, kJournalKeySize>;
using JournalBound = std::array<uint8_t, 40>;
JournalKey journal_key(const primitives::AccountKey& sender, uint64_t nonce, const primitives::TxId& id);
JournalBound journal_bound(const primitives::AccountKey& sender, uint64_t nonce);

struct TxLocation {
  primitives::BlockId block;
  uint32_t position = 0;
};
util::Bytes encode_tx_location(const TxLocation& l);
util::Result<TxLocation> decode_tx_location(util::ByteSpan in);

}  // namespace peerchain::storage
