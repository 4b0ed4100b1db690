// storage/database.h — the key-value store behind the chain: RocksDB with one column family
// per kind of record, written in atomic batches.
//
// Thread-safety: a Database may be used from several threads at once (RocksDB is).
// Durability: write(batch, /*sync=*/true) returns only after the batch is on disk; so does
// write(batch, false) followed by sync(), without holding up other threads' writes meanwhile
// (ADR 0024). A crash at any instant leaves either all of a batch or none of it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"

namespace peerchain::storage {

enum class Column : uint8_t {
  kMeta = 0,     // tip, schema version, network
  kBlocks,       // block id -> encoded block
  kBlockIndex,   // block id -> index record (header, status, sequence)
  kAccounts,     // account key -> account state
  kUndo,         // block id -> undo record
  kTxIndex,      // txid -> block id + position (active chain only)
  kMempool,      // sender | nonce | txid -> encoded transaction: the journal of acknowledged transfers (ADR 0011, 0018)
};
inline constexpr size_t kColumnCount = 7;

// An ordered list of puts and deletes applied atomically by Database::write.
class WriteBatch {
 public:
  enum class Kind : uint8_t { kPut, kErase, kEraseRange };
  struct Op {
    Column column;
    util::Bytes key;
    util::Bytes value;  // kEraseRange: the end of the range (excluded)
    Kind kind;
  };
  void put(Column c, util::ByteSpan key, util::ByteSpan value) {
    ops_.push_back({c, util::Bytes(key.begin(), key.end()), util::Bytes(value.begin(), value.end()), Kind::kPut});
  }
  void erase(Column c, util::ByteSpan key) {
    ops_.push_back({c, util::Bytes(key.begin(), key.end()), {}, Kind::kErase});
  }
  // Erases every record whose key is in [begin, end) (bytewise order) at this point of the batch:
  // puts later in the batch, or in later batches, are not affected. One op for any number of
  // records (RocksDB's DeleteRange: a single range tombstone).
  void erase_range(Column c, util::ByteSpan begin, util::ByteSpan end) {
    ops_.push_back({c, util::Bytes(begin.begin(), begin.end()), util::Bytes(end.begin(), end.end()), Kind::kEraseRange});
  }
  // Appends `other`'s ops after this batch's, in their order.
  void append(WriteBatch&& other) {
    if (ops_.empty()) {
      ops_ = std::move(other.ops_);
    } else {
      ops_.insert(ops_.end(), std::make_move_iterator(other.ops_.begin()), std::make_move_iterator(other.ops_.end()));
    }
    other.ops_.clear();
  }
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  void clear() { ops_.clear(); }

 private:
  std::vector<Op> ops_;
};

struct Options {
  bool create_if_missing = true;            // default: create a new database
  size_t block_cache_bytes = 32 << 20;      // default: 32 MiB shared block cache
  int max_open_files = 128;                 // default: 128, bounded so fds stay bounded
  size_t write_buffer_bytes = 16 << 20;     // default: 16 MiB memtable per column family
  size_t total_write_buffer_bytes = 48 << 20;  // default: 48 MiB of memtables over all families
};

// Error codes of the storage layer (util::Error::code), so callers can tell whose fault a
// failure is and what to do about it. All three are local faults, never a peer's.
inline constexpr std::string_view kErrNoSpace = "no-space";  // the disk is full: retry once space is freed
inline constexpr std::string_view kErrIo = "io";             // the disk or the OS failed (or the DB is locked)
inline constexpr std::string_view kErrCorrupt = "corrupt";   // stored bytes fail their checksum or do not decode

class Database {
 public:
  // Opens (or creates) the RocksDB database at `path`. Every block read is checked against its
  // checksum (RocksDB block-based tables, CRC32c); a mismatch is reported as kErrCorrupt.
  // Errors: kErrIo (cannot open, locked by another process), kErrNoSpace, kErrCorrupt.
  static util::Result<std::unique_ptr<Database>> open(const std::string& path, const Options& opts = {});

  virtual ~Database() = default;

  virtual util::Result<std::optional<util::Bytes>> get(Column c, util::ByteSpan key) const = 0;
  virtual util::Status write(const WriteBatch& batch, bool sync) = 0;
  // Makes every write that returned before the call durable (RocksDB's SyncWAL: the log is
  // fsynced while other threads go on writing to it; a synced write instead holds every later
  // write until its fsync is done). Concurrent callers share one fsync where they can.
  virtual util::Status sync() = 0;
  // Visits every record of a column in key order until `fn` returns false.
  virtual util::Status for_each(Column c,
                                const std::function<bool(util::ByteSpan key, util::ByteSpan value)>& fn) const = 0;
  // Removes every record of a column (used by reindex) without reading its table files, so a
  // column with a corrupt file can be cleared. REQUIRES: no other thread uses the database
  // meanwhile (the column's handle is replaced).
  virtual util::Status clear(Column c) = 0;
  // After a failed write RocksDB refuses further writes (its "background error"). This clears
  // that state once the cause is gone (space freed); it fails while the cause remains.
  virtual util::Status resume() = 0;
};

}  // namespace peerchain::storage
