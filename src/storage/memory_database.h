// storage/memory_database.h — an in-memory Database over a simulated disk that can lose power,
// for the deterministic simulator (issue 12) and for tests.
//
// A MemoryDisk is the durable medium: it outlives the Database opened on it, as a disk
// outlives a process, and is shared (shared_ptr) between the simulator and the databases it
// opens in turn. Its semantics are exactly what the node relies on from RocksDB:
// - write(batch, sync=false) is applied (visible to reads) but volatile;
// - write(batch, sync=true) makes that batch and every earlier write durable; so does sync();
// - a batch is atomic: after any crash all of it or none of it is there.
// A crash comes in two kinds: kill() (the process dies, the OS page cache survives: every
// applied write is kept, still volatile) and power_cut() (every volatile write is lost, or all
// but a prefix of whole batches the caller chooses).
// Either ends the open database (its calls then fail with kErrIo) and releases the disk's lock.
//
// Faults are injected by the caller (the simulator's seeded nemesis), never at random here, so a
// run replays from its seed:
// - fail_writes(): the next N disk operations (writes, clear() and resume()), or all until
//   clear_write_faults(), fail with kErrNoSpace or kErrIo and change nothing;
// - fail_synced_writes(): the same, for synced operations only (an fsync that fails);
// - corrupt() / corrupt_column(): reads hit a record (or a column) that fails its checksum.
// A database mirrors RocksDB's background error: after a failed write every write fails
// (without touching the disk) until resume() succeeds, and resume() fails while a fault is set
// (a resume with no failed write before it is a no-op, as in RocksDB). A reopen starts without
// the background error; the disk's fault stays until cleared.
//
// Thread-safety: MemoryDisk and MemoryDatabase are thread-safe (one mutex per disk).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"

namespace peerchain::storage {

class MemoryDatabase;

class MemoryDisk {
 public:
  struct Counters {
    uint64_t writes = 0;            // batches applied (synced or not; empty ones included)
    uint64_t synced_writes = 0;     // of which synced
    uint64_t syncs = 0;             // sync() calls that made the writes before them durable
    uint64_t bytes = 0;             // key + value bytes of the ops applied
    uint64_t faults_triggered = 0;  // injected faults that fired: failed writes/resumes, corrupt reads
    uint64_t records_lost = 0;      // unsynced ops (puts and erases) dropped by power cuts
  };

  static std::shared_ptr<MemoryDisk> create() { return std::make_shared<MemoryDisk>(); }

  // The process dies; the page cache survives: every applied write is kept (still volatile).
  void kill();
  // The power goes: every write not yet synced is lost, but for the first `keep_batches` of
  // them in write order. A real disk may have written part of the unsynced write-ahead log
  // before the cut, and RocksDB recovers the longest intact prefix of whole batches; a seeded
  // nemesis picks keep_batches in [0, volatile_batches()] to explore those outcomes.
  void power_cut(size_t keep_batches = 0);
  // Unsynced batches a power cut would now lose (kept through kill()).
  size_t volatile_batches() const;

  // The next `count` disk operations fail with `code` (kErrNoSpace or kErrIo); count nullopt:
  // every one until clear_write_faults(). Replaces any fault set before.
  void fail_writes(std::string_view code, std::optional<uint64_t> count = std::nullopt);
  // The same, for synced operations only (writes with sync=true, clear(), resume()).
  void fail_synced_writes(std::string_view code, std::optional<uint64_t> count = std::nullopt);
  void clear_write_faults();
  // Reads of (column, key) fail with kErrCorrupt until the record is rewritten (put or erase) or
  // the column is cleared. The record need not exist.
  void corrupt(Column c, util::ByteSpan key);
  // Every read of the column (get, for_each; present or absent keys) fails with kErrCorrupt
  // until the column is cleared, as with a damaged table file. Rewriting a key does not help.
  void corrupt_column(Column c);

  Counters counters() const;
  // Whether a database is open on this disk.
  bool locked() const;

 private:
  friend class MemoryDatabase;
  using Records = std::map<util::Bytes, util::Bytes>;
  // A volatile op: the new value, or nullopt for an erase.
  using Overlay = std::map<util::Bytes, std::optional<util::Bytes>>;

  struct WriteFault {
    std::string code;
    std::optional<uint64_t> remaining;  // nullopt: until cleared
    bool synced_only = false;
  };

  // REQUIRES: mu_ held. Consumes one fault for a disk operation; the error when one fires.
  std::optional<util::Error> take_fault(bool synced, const char* what);
  // REQUIRES: mu_ held. Whether a fault would fire for such an operation.
  bool fault_armed(bool synced) const;
  // REQUIRES: mu_ held. Folds the volatile ops into the durable records.
  void sync_all();
  // REQUIRES: mu_ held.
  void end_process();

  mutable std::mutex mu_;
  std::array<Records, kColumnCount> durable_;             // GUARDED_BY(mu_)
  std::array<Overlay, kColumnCount> volatile_;            // GUARDED_BY(mu_): over durable_
  // The unsynced batches in write order (what volatile_ folds together), for power_cut(keep).
  struct LoggedOp {  // a batch's op with its own bytes (the batch is gone by the power cut)
    Column column;
    WriteBatch::Kind kind;
    util::Bytes key;
    util::Bytes value;
  };
  std::vector<std::vector<LoggedOp>> volatile_log_;  // GUARDED_BY(mu_)
  std::array<std::set<util::Bytes>, kColumnCount> corrupt_keys_;  // GUARDED_BY(mu_)
  std::array<bool, kColumnCount> corrupt_columns_{};      // GUARDED_BY(mu_)
  std::optional<WriteFault> fault_;                       // GUARDED_BY(mu_)
  uint64_t owner_ = 0;                                    // GUARDED_BY(mu_): open database's id, 0: none
  uint64_t next_owner_ = 1;                               // GUARDED_BY(mu_)
  mutable Counters counters_;                             // GUARDED_BY(mu_)
};

// A Database (same contract as the RocksDB one, storage/database.h) over a MemoryDisk.
class MemoryDatabase final : public Database {
 public:
  // Opens a database on `disk`, seeing what survived on it. Errors: kErrIo "locked" while
  // another database is open on the same disk (RocksDB's LOCK file).
  static util::Result<std::unique_ptr<Database>> open(std::shared_ptr<MemoryDisk> disk);

  ~MemoryDatabase() override;

  util::Result<std::optional<util::Bytes>> get(Column c, util::ByteSpan key) const override;
  util::Status write(const WriteBatch& batch, bool sync) override;
  // Every earlier write durable (a synced operation for fault injection; a failed one is
  // RocksDB's background error: writes fail until resume()).
  util::Status sync() override;
  // Visits a snapshot taken when the call starts, so `fn` may call back into the database.
  util::Status for_each(Column c,
                        const std::function<bool(util::ByteSpan key, util::ByteSpan value)>& fn) const override;
  // Durable at once, as RocksDB's column-family drop is (a synced operation for fault injection).
  util::Status clear(Column c) override;
  util::Status resume() override;

 private:
  MemoryDatabase(std::shared_ptr<MemoryDisk> disk, uint64_t id) : disk_(std::move(disk)), id_(id) {}
  // REQUIRES: disk_->mu_ held. kErrIo when a crash ended this database.
  util::Status check_alive() const;

  std::shared_ptr<MemoryDisk> disk_;
  const uint64_t id_;
  std::optional<util::Error> background_error_;  // GUARDED_BY(disk_->mu_): a write failed, no resume since
};

}  // namespace peerchain::storage
