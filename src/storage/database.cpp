#include "storage/database.h"

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string_view>

#include <sys/statvfs.h>

#if defined(__SANITIZE_ADDRESS__)
#define PEERCHAIN_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PEERCHAIN_LSAN 1
#endif
#endif
#ifdef PEERCHAIN_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/transaction_log.h>
#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/write_batch.h>

#include "util/log.h"

namespace peerchain::storage {
namespace {

constexpr const char* kColumnNames[kColumnCount] = {
    "default", "blocks", "block_index",
    "accounts", "undo", "tx_index", "mempool"};

rocksdb::Slice slice(util::ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Says whose fault and which kind: a full disk (wait for space), corruption (stop, verify or
// reindex) or another I/O failure.
util::Unexpected<util::Error> io_error(const std::string& what, const rocksdb::Status& s) {
  std::string_view code = kErrIo;
  // Some paths report ENOSPC as a plain IOError whose text alone says so.
  if (s.IsNoSpace() || (s.IsIOError() && s.ToString().find("No space left on device") != std::string::npos))
    code = kErrNoSpace;
  else if (s.IsCorruption()) code = kErrCorrupt;
  return util::fail(std::string(code), what + ": " + s.ToString());
}

// The columns a block writes thousands of random keys into (an id per transfer in the tx index,
// a sender per transfer in the journal, both ends' accounts) keep their memtable in hash buckets
// by a key prefix instead of one skip list: an insert lands in a short bucket instead of
// searching ~20 levels of a list of 100,000+ keys (about 4x cheaper per key, measured; ADR 0023).
// Point reads find the bucket by the same prefix; a whole-column scan orders the memtable once
// (total_order_seek). Each bucket is a skip list of at most `height` levels: 4 (RocksDB's
// default) where buckets hold a few keys, more where one can hold many (an account anyone can
// grind keys into; one sender's run of 100,000 nonces, which a 4-level list inserts 30x slower).
struct Hashed {
  size_t prefix = 0;  // 0: an ordinary skip list
  int32_t height = 4;
};
Hashed hashed(size_t column) {
  switch (static_cast<Column>(column)) {
    case Column::kTxIndex: return {8, 4};    // txid: uniformly random, not ground without a signature each
    case Column::kAccounts: return {8, 8};   // public key: uniformly random
    case Column::kMempool: return {32, 12};  // sender | nonce | txid: one bucket per sender, in nonce order
    default: return {};
  }
}
constexpr size_t kMemtableBuckets = 1 << 16;  // 512 KiB of bucket heads per memtable

rocksdb::ColumnFamilyOptions column_options(const rocksdb::ColumnFamilyOptions& base, size_t column) {
  rocksdb::ColumnFamilyOptions o = base;
  if (auto h = hashed(column); h.prefix) {
    o.prefix_extractor.reset(rocksdb::NewCappedPrefixTransform(h.prefix));  // a shorter key is its own prefix
    o.memtable_factory.reset(rocksdb::NewHashSkipListRepFactory(kMemtableBuckets, h.height, 4));
  }
  return o;
}

rocksdb::ReadOptions checked_reads() {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;  // the default, stated: a flipped bit is an error, never a value
  return ro;
}

// RocksDB's own log goes into the node's log, not to a LOG file beside the tables. On a full disk
// that file's writer fails once and remembers it; Debian's RocksDB is built with assertions, and
// the next line logged through that writer (the one saying the disk is full) aborted the process
// (WritableFileWriter::AssertFalseAndGetStatusForPrevError). A line here needs no disk of its own.
// RocksDB's INFO (flushes, compactions, the options at open) is the node's debug; WARN and ERROR
// (stalls, a missing directory at creation, a full disk) its info; FATAL its warn. The node
// says what a storage error means for it at error level itself (ChainState::note_fault).
class NodeLogSink final : public rocksdb::Logger {
 public:
  NodeLogSink() : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    const auto to = level <= rocksdb::InfoLogLevel::INFO_LEVEL || level == rocksdb::InfoLogLevel::HEADER_LEVEL
                        ? spdlog::level::debug
                    : level == rocksdb::InfoLogLevel::FATAL_LEVEL ? spdlog::level::warn
                                                                  : spdlog::level::info;
    if (muted_.load(std::memory_order_acquire)) return;
    auto& log = util::log();
    if (!log.should_log(to)) return;
    char line[1024];
    const int n = std::vsnprintf(line, sizeof line, format, ap);
    if (n < 0) return;
    std::string_view text(line, std::min<size_t>(static_cast<size_t>(n), sizeof line - 1));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    log.log(to, "rocksdb: {}", text);
  }
  // For a handle left unclosed: RocksDB's threads (its recovery polls for space every few
  // seconds) may log on while the process exits and the node's logger is destroyed.
  void mute() { muted_.store(true, std::memory_order_release); }

 private:
  std::atomic<bool> muted_{false};
};

class RocksDatabase final : public Database {
 public:
  RocksDatabase(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
                rocksdb::ColumnFamilyOptions cf_options, std::shared_ptr<NodeLogSink> log_sink, std::string path,
                uint64_t min_free)
      : db_(db), handles_(std::move(handles)), cf_options_(std::move(cf_options)), log_sink_(std::move(log_sink)),
        path_(std::move(path)), min_free_(min_free) {}

  ~RocksDatabase() override {
    if (!resume_rocksdb().ok()) {
      // RocksDB still holds a failed log writer (the disk is full or failing, or its resume kept
      // that writer): closing would touch it again, and RocksDB aborts on that (an assertion in
      // Debian's build). Every acknowledged write is already in the log or the tables, and the
      // database recovers from an unclosed handle exactly as after kill -9 (ADR 0006), so the
      // handle is left to the process exit instead.
      util::log().warn("storage: database left unclosed after a failed write (it reopens as after a crash)");
      log_sink_->mute();
#ifdef PEERCHAIN_LSAN
      __lsan_ignore_object(db_);  // left on purpose, as above, with the column handles it gave out
      for (auto* h : handles_)
        if (h) __lsan_ignore_object(h);
#endif
      return;
    }
    for (auto* h : handles_)
      if (h) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
    delete db_;
  }

  util::Result<std::optional<util::Bytes>> get(Column c, util::ByteSpan key) const override {
    rocksdb::PinnableSlice value;
    auto s = db_->Get(checked_reads(), handle(c), slice(key), &value);
    if (s.IsNotFound()) return std::optional<util::Bytes>();
    if (!s.ok()) return io_error("read", s);
    return std::optional<util::Bytes>(util::Bytes(value.data(), value.data() + value.size()));
  }

  util::Status write(const WriteBatch& batch, bool sync) override {
    if (failed_.load()) return refused("write");
    if (auto st = check_room(batch.byte_size() + 16 * batch.size()); !st) return st;
    // Sized once: RocksDB's record of each op is its bytes plus a few of framing.
    rocksdb::WriteBatch wb(batch.byte_size() + 16 * batch.size() + 16);
    for (size_t i = 0; i < batch.size(); ++i) {
      const WriteBatch::Op op = batch.op(i);
      auto s = op.kind == WriteBatch::Kind::kPut     ? wb.Put(handle(op.column), slice(op.key), slice(op.value))
               : op.kind == WriteBatch::Kind::kErase ? wb.Delete(handle(op.column), slice(op.key))
                                                     : wb.DeleteRange(handle(op.column), slice(op.key), slice(op.value));
      if (!s.ok()) return io_error("batch", s);
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    auto s = db_->Write(wo, &wb);
    if (!s.ok()) return failed("write", s);
    writes_.fetch_add(1, std::memory_order_release);
    return {};
  }

  util::Status sync() override {
    // Group commit: a caller whose write an fsync begun after it already covered returns at
    // once; otherwise one caller syncs every write counted so far while the others wait.
    const uint64_t mine = writes_.load(std::memory_order_acquire);
    std::lock_guard lock(sync_mu_);
    if (synced_ >= mine) return {};
    // After RocksDB failed a write its log writer may hold the error: syncing it would abort.
    // (Writes refused for room alone leave the log sound: what was written is synced.)
    if (rocks_failed_.load()) return refused("sync");
    const uint64_t upto = writes_.load(std::memory_order_acquire);
    auto s = db_->SyncWAL();
    if (!s.ok()) return failed("sync", s);
    synced_ = upto;
    return {};
  }

  util::Status for_each(Column c,
                        const std::function<bool(util::ByteSpan, util::ByteSpan)>& fn) const override {
    auto ro = checked_reads();
    ro.total_order_seek = true;  // every key, in order, hashed memtable or not
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handle(c)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto k = it->key();
      auto v = it->value();
      if (!fn({reinterpret_cast<const uint8_t*>(k.data()), k.size()},
              {reinterpret_cast<const uint8_t*>(v.data()), v.size()}))
        break;
    }
    if (!it->status().ok()) return io_error("iterate", it->status());
    return {};
  }

  util::Status clear(Column c) override {
    if (c != Column::kMeta) {
      // Drop the column family and make it again: its table files go without being read, so a
      // column with a corrupt file can still be cleared (reindex after corruption).
      size_t i = static_cast<size_t>(c);
      auto s = db_->DropColumnFamily(handles_[i]);
      if (!s.ok()) return io_error("clear", s);
      db_->DestroyColumnFamilyHandle(handles_[i]);
      handles_[i] = nullptr;
      rocksdb::ColumnFamilyHandle* h = nullptr;
      s = db_->CreateColumnFamily(column_options(cf_options_, i), kColumnNames[i], &h);
      if (!s.ok()) return io_error("clear (recreate)", s);
      handles_[i] = h;
      return {};
    }
    // The default column cannot be dropped. Delete key by key in bounded batches: DeleteRange would also do, but this keeps the
    // semantics obvious and the column is small relative to blocks (accounts, undo, tx index).
    WriteBatch batch;
    std::vector<util::Bytes> keys;
    auto st = for_each(c, [&](util::ByteSpan k, util::ByteSpan) {
      keys.emplace_back(k.begin(), k.end());
      return true;
    });
    if (!st) return st;
    for (const auto& k : keys) batch.erase(c, k);
    return write(batch, true);
  }

  util::Status resume() override {
    if (!failed_.load()) return {};
    if (auto st = resume_rocksdb(); !st) return st;
    if (auto st = check_room(0); !st) return st;
    failed_.store(false);
    return {};
  }

 private:
  rocksdb::ColumnFamilyHandle* handle(Column c) const { return handles_[static_cast<size_t>(c)]; }
  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyOptions cf_options_;
  // Refuses a write or sync while an earlier one's failure is not resumed: RocksDB refuses it
  // too, and some of its failed log writers abort the process when touched again.
  util::Unexpected<util::Error> refused(const char* what) const {
    std::lock_guard lock(fail_mu_);
    return util::fail(failure_.code, std::string(what) + " refused until the storage resumes: " + failure_.message);
  }

  // Records a failure of RocksDB's: writes stop until resume(). Notes the log file if the failure
  // names it (an append or sync of the log failed), as resume() must see that log replaced.
  util::Unexpected<util::Error> failed(const char* what, const rocksdb::Status& s) {
    auto e = io_error(what, s);
    std::lock_guard lock(fail_mu_);
    if (!failed_.load() || !rocks_failed_.load()) {
      const uint64_t log = current_log();
      char name[32];
      std::snprintf(name, sizeof name, "%06llu.log", static_cast<unsigned long long>(log));
      failed_log_ = log != 0 && s.ToString().find(name) != std::string::npos ? log : 0;
      if (std::string_view(what) == "sync") failed_log_ = log;  // a failed sync leaves the writer failed too
      failure_ = e.error;
      rocks_failed_.store(true);
      failed_.store(true);
    }
    return e;
  }

  // kErrNoSpace when the disk's free space is below the reserve plus `bytes` (then writes stop
  // until resume()), so that RocksDB's log, whose writer stays failed after a full disk, does not
  // meet one in the normal course (ADR 0029).
  util::Status check_room(uint64_t bytes) {
    if (min_free_ == 0) return {};
    struct statvfs st {};
    if (::statvfs(path_.c_str(), &st) != 0) return {};  // cannot tell: RocksDB reports what it meets
    const uint64_t size = static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
    const uint64_t free = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
    const uint64_t reserve = std::min<uint64_t>(min_free_, size / 32);
    if (free >= reserve + bytes) return {};
    util::Error e{std::string(kErrNoSpace), "write: " + std::to_string(free >> 10) + " KiB free on the disk of " +
                                                path_ + ", below the " + std::to_string(reserve >> 10) +
                                                " KiB kept free (No space left on device)"};
    std::lock_guard lock(fail_mu_);
    if (!failed_.load()) {
      failure_ = e;
      failed_.store(true);
    }
    return util::unexpected(std::move(e));
  }

  // Clears RocksDB's own failure, if any: its background error, and the log writer that failed.
  util::Status resume_rocksdb() {
    std::lock_guard lock(fail_mu_);
    if (!rocks_failed_.load()) return {};
    if (stuck_) return util::fail(std::string(kErrIo), stuck_reason());
    auto s = db_->Resume();
    // Busy: RocksDB's own recovery (it starts one when the disk fills) is still under way.
    if (s.IsBusy())
      return util::fail(failure_.code, "resume: RocksDB's own recovery is under way: " + failure_.message);
    if (!s.ok()) return io_error("resume", s);
    // RocksDB 7.8 resumes by flushing the memtables, which starts a new log only when one holds
    // something; otherwise the log writer that failed stays current and the next write aborts
    // on its remembered error (RocksDB issues 11643, 12998). So that log must have been replaced.
    if (failed_log_ != 0 && current_log() == failed_log_) {
      stuck_ = true;
      util::log().error("storage: {}", stuck_reason());
      return util::fail(std::string(kErrIo), stuck_reason());
    }
    rocks_failed_.store(false);
    failed_log_ = 0;
    return {};
  }

  uint64_t current_log() const {
    std::unique_ptr<rocksdb::LogFile> log;
    return db_->GetCurrentWalFile(&log).ok() && log ? log->LogNumber() : 0;
  }

  std::string stuck_reason() const {
    return "RocksDB resumed but kept the log file " + std::to_string(failed_log_) +
           " that failed (it had nothing to flush); writes stay refused until the node is restarted, "
           "which loses nothing acknowledged";
  }

  std::shared_ptr<NodeLogSink> log_sink_;
  std::string path_;
  uint64_t min_free_;
  // Failure state: failed_ is read without the lock on every write and sync.
  std::atomic<bool> failed_{false};  // a write or sync failed (or found no room); no resume() since
  mutable std::mutex fail_mu_;
  util::Error failure_;              // GUARDED_BY(fail_mu_): the first failure
  std::atomic<bool> rocks_failed_{false};  // RocksDB itself failed, not check_room(); set under fail_mu_
  uint64_t failed_log_ = 0;          // GUARDED_BY(fail_mu_): the log file whose writer failed, or 0
  bool stuck_ = false;               // GUARDED_BY(fail_mu_): resumed with failed_log_ still current
  std::atomic<uint64_t> writes_{0};         // writes that returned (each is in the log's file)
  std::mutex sync_mu_;                      // one SyncWAL at a time
  uint64_t synced_ = 0;                     // GUARDED_BY(sync_mu_): writes_ covered by the last sync
};

}  // namespace

util::Result<std::unique_ptr<Database>> Database::open(const std::string& path, const Options& opts) {
  rocksdb::Options options;
  options.create_if_missing = opts.create_if_missing;
  options.create_missing_column_families = opts.create_if_missing;
  options.max_open_files = opts.max_open_files;
  // Checks that cost little: a corrupt WAL or manifest fails open (kErrCorrupt) instead of
  // silently dropping records, and table files are checked when written.
  options.paranoid_checks = true;
  auto log_sink = std::make_shared<NodeLogSink>();
  options.info_log = log_sink;  // no LOG file: see NodeLogSink
  options.max_background_jobs = 2;
  // Six column families with two 16 MiB memtables each could hold 192 MiB: cap them together
  // (the fullest is flushed first), so memory stays flat as the chain grows.
  options.db_write_buffer_size = opts.total_write_buffer_bytes;
  // Hash-bucketed memtables (hashed()) insert one writer at a time: a write group's
  // batches go into the memtables in turn, not in parallel.
  options.allow_concurrent_memtable_write = false;

  rocksdb::BlockBasedTableOptions table;
  table.checksum = rocksdb::kCRC32c;  // every block carries a checksum, verified on each read
  table.block_cache = rocksdb::NewLRUCache(opts.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = opts.write_buffer_bytes;
  cf_options.force_consistency_checks = true;  // cheap LSM shape checks on every version change
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  options.table_factory = cf_options.table_factory;

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (size_t i = 0; i < kColumnCount; ++i) cfs.emplace_back(kColumnNames[i], column_options(cf_options, i));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(options, path, cfs, &handles, &db);
  if (!s.ok()) return io_error("cannot open database at " + path, s);
  return std::unique_ptr<Database>(new RocksDatabase(db, std::move(handles), cf_options, std::move(log_sink), path,
                                                     opts.min_free_bytes));
}

}  // namespace peerchain::storage
