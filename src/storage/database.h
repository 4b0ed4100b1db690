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
//
// Every key and value is copied into one buffer the batch owns, and each operation is a small
// record of where its bytes are: a block's connect puts ~10,000 records (its tx index, accounts,
// journal), and the two heap allocations and frees of each were a fifth of connect_tip's samples
// in a profile of an idle connect (BM_ConnectBlock5000_WarmSigCache; the whole block's processing
// gained a few per cent).
class WriteBatch {
 public:
  enum class Kind : uint8_t { kPut, kErase, kEraseRange };
  // One operation. `key` and `value` view the batch's buffer: valid until the batch changes.
  struct Op {
    Column column;
    Kind kind;
    util::ByteSpan key;
    util::ByteSpan value;  // kEraseRange: the end of the range (excluded)
  };
  void put(Column c, util::ByteSpan key, util::ByteSpan value) { add(c, Kind::kPut, key, value); }
  void erase(Column c, util::ByteSpan key) { add(c, Kind::kErase, key, {}); }
  // Erases every record whose key is in [begin, end) (bytewise order) at this point of the batch:
  // puts later in the batch, or in later batches, are not affected. One op for any number of
  // records (RocksDB's DeleteRange: a single range tombstone).
  void erase_range(Column c, util::ByteSpan begin, util::ByteSpan end) { add(c, Kind::kEraseRange, begin, end); }
  // Appends a copy of one op (of another batch).
  void push(const Op& op) { add(op.column, op.kind, op.key, op.value); }
  // Appends `other`'s ops after this batch's, in their order; `other` is left empty.
  void append(WriteBatch&& other) {
    if (ops_.empty()) {
      std::swap(ops_, other.ops_);
      std::swap(bytes_, other.bytes_);
    } else {
      const size_t base = bytes_.size();
      bytes_.insert(bytes_.end(), other.bytes_.begin(), other.bytes_.end());
      ops_.reserve(ops_.size() + other.ops_.size());
      for (Record r : other.ops_) {
        r.at += base;
        ops_.push_back(r);
      }
    }
    other.clear();
  }
  size_t size() const { return ops_.size(); }
  size_t byte_size() const { return bytes_.size(); }  // of the keys and values
  Op op(size_t i) const {
    const Record& r = ops_[i];
    const uint8_t* at = bytes_.data() + r.at;
    return {r.column, r.kind, util::ByteSpan(at, r.key_size), util::ByteSpan(at + r.key_size, r.value_size)};
  }
  // Every op, in order (views of this batch's buffer, as op()).
  std::vector<Op> ops() const {
    std::vector<Op> out;
    out.reserve(ops_.size());
    for (size_t i = 0; i < ops_.size(); ++i) out.push_back(op(i));
    return out;
  }
  bool empty() const { return ops_.empty(); }
  void clear() {
    ops_.clear();
    bytes_.clear();
  }

 private:
  struct Record {
    size_t at;  // the key's first byte in bytes_; the value follows it
    uint32_t key_size;
    uint32_t value_size;
    Column column;
    Kind kind;
  };
  void add(Column c, Kind k, util::ByteSpan key, util::ByteSpan value) {
    const size_t at = bytes_.size();
    bytes_.insert(bytes_.end(), key.begin(), key.end());
    bytes_.insert(bytes_.end(), value.begin(), value.end());
    ops_.push_back({at, static_cast<uint32_t>(key.size()), static_cast<uint32_t>(value.size()), c, k});
  }
  std::vector<Record> ops_;
  util::Bytes bytes_;
};

struct Options {
  bool create_if_missing = true;            // default: create a new database
  size_t block_cache_bytes = 32 << 20;      // default: 32 MiB shared block cache
  int max_open_files = 128;                 // default: 128, bounded so fds stay bounded
  size_t write_buffer_bytes = 16 << 20;     // default: 16 MiB memtable per column family
  size_t total_write_buffer_bytes = 48 << 20;  // default: 48 MiB of memtables over all families
  // Writes are refused (kErrNoSpace) while the disk has less than this free, so RocksDB's log
  // never meets a full disk in the normal course (ADR 0029); capped at 1/32 of the file system's
  // size for small ones. 0: no check.
  uint64_t min_free_bytes = 64 << 20;         // default: 64 MiB
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
  // After a failed write (or sync) further writes and syncs are refused, as RocksDB refuses
  // them (its "background error"). This clears that state once the cause is gone (space freed);
  // it fails while the cause remains, and for good where only a restart can clear it (ADR 0029).
  virtual util::Status resume() = 0;
};

}  // namespace peerchain::storage
