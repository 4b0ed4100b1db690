#include "storage/database.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/write_batch.h>

namespace peerchain::storage {
namespace {

constexpr const char* kColumnNames[kColumnCount] = {
    "default", "blocks", "block_index",
    "accounts", "undo", "tx_index"};

rocksdb::Slice slice(util::ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

util::Unexpected<util::Error> io_error(const std::string& what, const rocksdb::Status& s) {
  return util::fail("io", what + ": " + s.ToString());
}

class RocksDatabase final : public Database {
 public:
  RocksDatabase(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : db_(db), handles_(std::move(handles)) {}

  ~RocksDatabase() override {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
    delete db_;
  }

  util::Result<std::optional<util::Bytes>> get(Column c, util::ByteSpan key) const override {
    rocksdb::PinnableSlice value;
    auto s = db_->Get(rocksdb::ReadOptions(), handle(c), slice(key), &value);
    if (s.IsNotFound()) return std::optional<util::Bytes>();
    if (!s.ok()) return io_error("read", s);
    return std::optional<util::Bytes>(util::Bytes(value.data(), value.data() + value.size()));
  }

  util::Status write(const WriteBatch& batch, bool sync) override {
    rocksdb::WriteBatch wb;
    for (const auto& op : batch.ops()) {
      auto s = op.erase ? wb.Delete(handle(op.column), slice(op.key))
                        : wb.Put(handle(op.column), slice(op.key), slice(op.value));
      if (!s.ok()) return io_error("batch", s);
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    auto s = db_->Write(wo, &wb);
    if (!s.ok()) return io_error("write", s);
    return {};
  }

  util::Status for_each(Column c,
                        const std::function<bool(util::ByteSpan, util::ByteSpan)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(c)));
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
    // Delete key by key in bounded batches: DeleteRange would also do, but this keeps the
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

 private:
  rocksdb::ColumnFamilyHandle* handle(Column c) const { return handles_[static_cast<size_t>(c)]; }
  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace

util::Result<std::unique_ptr<Database>> Database::open(const std::string& path, const Options& opts) {
  rocksdb::Options options;
  options.create_if_missing = opts.create_if_missing;
  options.create_missing_column_families = opts.create_if_missing;
  options.max_open_files = opts.max_open_files;
  options.paranoid_checks = true;
  options.keep_log_file_num = 3;
  options.max_background_jobs = 2;
  // Six column families with two 16 MiB memtables each could hold 192 MiB: cap them together
  // (the fullest is flushed first), so memory stays flat as the chain grows.
  options.db_write_buffer_size = opts.total_write_buffer_bytes;

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(opts.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = opts.write_buffer_bytes;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  options.table_factory = cf_options.table_factory;

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (size_t i = 0; i < kColumnCount; ++i) cfs.emplace_back(kColumnNames[i], cf_options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(options, path, cfs, &handles, &db);
  if (!s.ok()) return io_error("cannot open database at " + path, s);
  return std::unique_ptr<Database>(new RocksDatabase(db, std::move(handles)));
}

}  // namespace peerchain::storage
