#include "storage/memory_database.h"

#include <cassert>
#include <utility>
#include <vector>

namespace peerchain::storage {
namespace {

util::Bytes to_bytes(util::ByteSpan b) { return util::Bytes(b.begin(), b.end()); }

util::Unexpected<util::Error> corrupt_error(Column c) {
  return util::fail(std::string(kErrCorrupt),
                    "read: checksum mismatch in column " + std::to_string(static_cast<int>(c)) + " (injected)");
}

}  // namespace

void MemoryDisk::kill() {
  std::lock_guard lock(mu_);
  end_process();
}

void MemoryDisk::power_cut(size_t keep_batches) {
  std::lock_guard lock(mu_);
  end_process();
  // Recovery replays the intact prefix of the log and flushes it: from then on it is durable.
  for (size_t b = 0; b < volatile_log_.size(); ++b) {
    for (auto& op : volatile_log_[b]) {
      if (b >= keep_batches) {
        ++counters_.records_lost;
        continue;
      }
      auto& records = durable_[static_cast<size_t>(op.column)];
      if (op.kind == WriteBatch::Kind::kErase)  // range erases are logged as point erases
        records.erase(op.key);
      else
        records[op.key] = std::move(op.value);
    }
  }
  volatile_log_.clear();
  for (auto& v : volatile_) v.clear();
}

size_t MemoryDisk::volatile_batches() const {
  std::lock_guard lock(mu_);
  return volatile_log_.size();
}

void MemoryDisk::end_process() { owner_ = 0; }

void MemoryDisk::fail_writes(std::string_view code, std::optional<uint64_t> count) {
  std::lock_guard lock(mu_);
  fault_ = WriteFault{std::string(code), count, false};
}

void MemoryDisk::fail_synced_writes(std::string_view code, std::optional<uint64_t> count) {
  std::lock_guard lock(mu_);
  fault_ = WriteFault{std::string(code), count, true};
}

void MemoryDisk::clear_write_faults() {
  std::lock_guard lock(mu_);
  fault_.reset();
}

void MemoryDisk::corrupt(Column c, util::ByteSpan key) {
  std::lock_guard lock(mu_);
  corrupt_keys_[static_cast<size_t>(c)].insert(to_bytes(key));
}

void MemoryDisk::corrupt_column(Column c) {
  std::lock_guard lock(mu_);
  corrupt_columns_[static_cast<size_t>(c)] = true;
}

MemoryDisk::Counters MemoryDisk::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

bool MemoryDisk::locked() const {
  std::lock_guard lock(mu_);
  return owner_ != 0;
}

bool MemoryDisk::fault_armed(bool synced) const {
  if (!fault_) return false;
  if (fault_->synced_only && !synced) return false;
  return !fault_->remaining || *fault_->remaining > 0;
}

std::optional<util::Error> MemoryDisk::take_fault(bool synced, const char* what) {
  if (!fault_armed(synced)) return std::nullopt;
  if (fault_->remaining) --*fault_->remaining;
  ++counters_.faults_triggered;
  std::string message = std::string(what) + ": " +
                        (fault_->code == kErrNoSpace ? "no space left on device" : "input/output error") +
                        (fault_->synced_only ? " (fsync, injected)" : " (injected)");
  return util::Error{fault_->code, std::move(message)};
}

void MemoryDisk::sync_all() {
  for (size_t c = 0; c < kColumnCount; ++c) {
    for (auto& [key, value] : volatile_[c]) {
      if (value)
        durable_[c][key] = std::move(*value);
      else
        durable_[c].erase(key);
    }
    volatile_[c].clear();
  }
  volatile_log_.clear();
}

util::Result<std::unique_ptr<Database>> MemoryDatabase::open(std::shared_ptr<MemoryDisk> disk) {
  assert(disk);
  std::lock_guard lock(disk->mu_);
  if (disk->owner_ != 0)
    return util::fail(std::string(kErrIo), "cannot open database: locked (another database is open on this disk)");
  uint64_t id = disk->next_owner_++;
  disk->owner_ = id;
  auto* db = new MemoryDatabase(disk, id);
  return std::unique_ptr<Database>(db);
}

MemoryDatabase::~MemoryDatabase() {
  std::lock_guard lock(disk_->mu_);
  if (disk_->owner_ == id_) disk_->owner_ = 0;
}

util::Status MemoryDatabase::check_alive() const {
  if (disk_->owner_ != id_) return util::fail(std::string(kErrIo), "database closed by a crash of its process");
  return {};
}

util::Result<std::optional<util::Bytes>> MemoryDatabase::get(Column c, util::ByteSpan key) const {
  std::lock_guard lock(disk_->mu_);
  if (auto st = check_alive(); !st) return util::unexpected(st.error());
  const size_t i = static_cast<size_t>(c);
  util::Bytes k = to_bytes(key);
  if (disk_->corrupt_columns_[i] || disk_->corrupt_keys_[i].count(k)) {
    ++disk_->counters_.faults_triggered;
    return corrupt_error(c);
  }
  if (auto v = disk_->volatile_[i].find(k); v != disk_->volatile_[i].end()) return v->second;
  if (auto d = disk_->durable_[i].find(k); d != disk_->durable_[i].end())
    return std::optional<util::Bytes>(d->second);
  return std::optional<util::Bytes>();
}

util::Status MemoryDatabase::write(const WriteBatch& batch, bool sync) {
  std::lock_guard lock(disk_->mu_);
  if (auto st = check_alive(); !st) return st;
  // RocksDB refuses writes after a failed one without trying the disk again.
  if (background_error_) return util::unexpected(*background_error_);
  if (auto fault = disk_->take_fault(sync, "write")) {
    background_error_ = *fault;
    return util::unexpected(std::move(*fault));
  }
  auto& counters = disk_->counters_;
  // A range erase becomes the point erases of the records it covers when it is applied (what
  // was visible then), so the volatile log replays exactly what RocksDB's WAL would.
  std::vector<MemoryDisk::LoggedOp> ops;
  ops.reserve(batch.size());
  for (size_t n = 0; n < batch.size(); ++n) {
    const WriteBatch::Op op = batch.op(n);
    const util::Bytes key(op.key.begin(), op.key.end());
    const size_t i = static_cast<size_t>(op.column);
    if (op.kind == WriteBatch::Kind::kEraseRange) {
      counters.bytes += op.key.size() + op.value.size();
      std::set<util::Bytes> covered;
      const util::Bytes end(op.value.begin(), op.value.end());
      for (auto d = disk_->durable_[i].lower_bound(key); d != disk_->durable_[i].end() && d->first < end; ++d)
        covered.insert(d->first);
      for (auto v = disk_->volatile_[i].lower_bound(key); v != disk_->volatile_[i].end() && v->first < end; ++v)
        covered.insert(v->first);
      for (const auto& k : covered) {
        disk_->corrupt_keys_[i].erase(k);
        disk_->volatile_[i][k].reset();
        ops.push_back({op.column, WriteBatch::Kind::kErase, k, {}});
      }
      continue;
    }
    disk_->corrupt_keys_[i].erase(key);  // a rewritten record carries a fresh checksum
    counters.bytes += op.key.size() + op.value.size();
    auto& slot = disk_->volatile_[i][key];
    util::Bytes value;
    if (op.kind == WriteBatch::Kind::kErase) {
      slot.reset();
    } else {
      value.assign(op.value.begin(), op.value.end());
      slot = value;
    }
    ops.push_back({op.column, op.kind, key, std::move(value)});
  }
  if (!sync && !ops.empty()) disk_->volatile_log_.push_back(std::move(ops));
  ++counters.writes;
  if (sync) {
    ++counters.synced_writes;
    disk_->sync_all();
  }
  return {};
}

util::Status MemoryDatabase::for_each(Column c,
                                      const std::function<bool(util::ByteSpan, util::ByteSpan)>& fn) const {
  std::vector<std::pair<util::Bytes, util::Bytes>> snapshot;
  std::optional<util::Error> corrupt_at;  // the iterator stops at a corrupt record, as RocksDB's does
  {
    std::lock_guard lock(disk_->mu_);
    if (auto st = check_alive(); !st) return st;
    const size_t i = static_cast<size_t>(c);
    if (disk_->corrupt_columns_[i]) {
      ++disk_->counters_.faults_triggered;
      return corrupt_error(c);
    }
    // Merge the durable records with the volatile ops over them, in key order.
    const auto& durable = disk_->durable_[i];
    const auto& overlay = disk_->volatile_[i];
    auto d = durable.begin();
    auto v = overlay.begin();
    while (d != durable.end() || v != overlay.end()) {
      const util::Bytes* key;
      const util::Bytes* value;
      if (v == overlay.end() || (d != durable.end() && d->first < v->first)) {
        key = &d->first;
        value = &d->second;
        ++d;
      } else {
        if (d != durable.end() && d->first == v->first) ++d;  // shadowed by the volatile op
        key = &v->first;
        value = v->second ? &*v->second : nullptr;
        ++v;
        if (!value) continue;  // erased
      }
      if (disk_->corrupt_keys_[i].count(*key)) {
        ++disk_->counters_.faults_triggered;
        corrupt_at = corrupt_error(c).error;
        break;
      }
      snapshot.emplace_back(*key, *value);
    }
  }
  for (const auto& [k, v] : snapshot)
    if (!fn(k, v)) return {};
  if (corrupt_at) return util::unexpected(*corrupt_at);
  return {};
}

util::Status MemoryDatabase::sync() {
  std::lock_guard lock(disk_->mu_);
  if (auto st = check_alive(); !st) return st;
  if (background_error_) return util::unexpected(*background_error_);
  if (auto fault = disk_->take_fault(true, "sync")) {
    background_error_ = *fault;
    return util::unexpected(std::move(*fault));
  }
  ++disk_->counters_.syncs;
  disk_->sync_all();
  return {};
}

util::Status MemoryDatabase::clear(Column c) {
  std::lock_guard lock(disk_->mu_);
  if (auto st = check_alive(); !st) return st;
  if (background_error_) return util::unexpected(*background_error_);
  if (auto fault = disk_->take_fault(true, "clear")) {
    background_error_ = *fault;
    return util::unexpected(std::move(*fault));
  }
  const size_t i = static_cast<size_t>(c);
  // The RocksDB database clears the default column (kMeta) by a synced batch of erases, which
  // makes every earlier write durable too; the other columns are dropped and made again.
  if (c == Column::kMeta) {
    disk_->sync_all();
    ++disk_->counters_.writes;
    ++disk_->counters_.synced_writes;
  }
  disk_->durable_[i].clear();
  disk_->volatile_[i].clear();
  // The dropped column's unsynced records go with it (RocksDB ignores a dropped family's log).
  for (auto& logged : disk_->volatile_log_)
    std::erase_if(logged, [c](const MemoryDisk::LoggedOp& op) { return op.column == c; });
  std::erase_if(disk_->volatile_log_, [](const auto& logged) { return logged.empty(); });
  disk_->corrupt_keys_[i].clear();
  disk_->corrupt_columns_[i] = false;
  return {};
}

util::Status MemoryDatabase::resume() {
  std::lock_guard lock(disk_->mu_);
  if (auto st = check_alive(); !st) return st;
  if (!background_error_) return {};  // as RocksDB: nothing to resume, the disk is not touched
  // RocksDB's resume flushes and syncs: a disk still failing fails it.
  if (auto fault = disk_->take_fault(true, "resume")) return util::unexpected(std::move(*fault));
  background_error_.reset();
  return {};
}

}  // namespace peerchain::storage
