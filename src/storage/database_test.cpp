#include "storage/database.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/test_dir.h"

using namespace peerchain;
using namespace peerchain::storage;

namespace {
util::Bytes b(std::string_view s) { return util::Bytes(s.begin(), s.end()); }
}  // namespace

TEST(Database, BatchPutGetEraseAcrossColumns) {
  TestDir dir;
  auto db = Database::open(dir.sub("db"));
  ASSERT_TRUE(db.ok()) << db.error().to_string();
  WriteBatch batch;
  batch.put(Column::kAccounts, b("k1"), b("v1"));
  batch.put(Column::kBlocks, b("k1"), b("block"));
  batch.put(Column::kAccounts, b("k2"), b("v2"));
  ASSERT_TRUE((*db)->write(batch, true).ok());
  EXPECT_EQ(*(*db)->get(Column::kAccounts, b("k1")).value(), b("v1"));
  EXPECT_EQ(*(*db)->get(Column::kBlocks, b("k1")).value(), b("block"));
  EXPECT_FALSE((*db)->get(Column::kUndo, b("k1")).value().has_value());
  WriteBatch del;
  del.erase(Column::kAccounts, b("k1"));
  ASSERT_TRUE((*db)->write(del, false).ok());
  EXPECT_FALSE((*db)->get(Column::kAccounts, b("k1")).value().has_value());
  std::vector<util::Bytes> keys;
  ASSERT_TRUE((*db)->for_each(Column::kAccounts, [&](util::ByteSpan k, util::ByteSpan) {
    keys.emplace_back(k.begin(), k.end());
    return true;
  }).ok());
  EXPECT_EQ(keys, std::vector<util::Bytes>{b("k2")});
  ASSERT_TRUE((*db)->clear(Column::kAccounts).ok());
  EXPECT_FALSE((*db)->get(Column::kAccounts, b("k2")).value().has_value());
  EXPECT_TRUE((*db)->get(Column::kBlocks, b("k1")).value().has_value());
}

// A range erase removes what the range holds at its place in the batch: not a later put, not a
// neighbour outside [begin, end).
TEST(Database, EraseRangeRemovesTheRecordsInItsRangeAtItsPlaceInTheBatch) {
  TestDir dir;
  auto db = Database::open(dir.sub("db"));
  ASSERT_TRUE(db.ok()) << db.error().to_string();
  WriteBatch batch;
  for (auto k : {"a", "b1", "b2", "b3", "c"}) batch.put(Column::kMempool, b(k), b("v"));
  ASSERT_TRUE((*db)->write(batch, true).ok());
  WriteBatch range;
  range.put(Column::kMempool, b("b4"), b("v"));
  range.erase_range(Column::kMempool, b("b"), b("b3"));
  range.put(Column::kMempool, b("b2"), b("again"));
  ASSERT_TRUE((*db)->write(range, true).ok());
  std::vector<util::Bytes> keys;
  ASSERT_TRUE((*db)->for_each(Column::kMempool, [&](util::ByteSpan k, util::ByteSpan) {
    keys.emplace_back(k.begin(), k.end());
    return true;
  }).ok());
  EXPECT_EQ(keys, (std::vector<util::Bytes>{b("a"), b("b2"), b("b3"), b("b4"), b("c")}));
  EXPECT_EQ(*(*db)->get(Column::kMempool, b("b2")).value(), b("again"));
}

// The tx index, accounts and journal keep their memtables in hash buckets by key prefix (ADR
// 0023): a scan still visits every record once, in key order, whether it sits in a table file or
// in the memtable, and keys shorter than the prefix or sharing it are told apart.
TEST(Database, HashedColumnsScanInKeyOrderFromTablesAndMemtable) {
  TestDir dir;
  std::mt19937 rng(7);
  for (Column c : {Column::kTxIndex, Column::kAccounts, Column::kMempool}) {
    std::map<util::Bytes, util::Bytes> want;
    auto random_key = [&](size_t n, const util::Bytes& prefix) {
      util::Bytes k = prefix;
      while (k.size() < n) k.push_back(static_cast<uint8_t>(rng()));
      return k;
    };
    const util::Bytes shared = random_key(32, {});
    auto write_some = [&](Database& db) {
      WriteBatch batch;
      for (int i = 0; i < 300; ++i) {
        auto k = random_key(i % 3 == 0 ? 72 : 32, i % 5 == 0 ? shared : util::Bytes{});
        want[k] = b("v" + std::to_string(i));
        batch.put(c, k, want[k]);
      }
      for (auto k : {b("a"), b("ab"), b("abcdefgh1"), b("abcdefgh2")}) {  // shorter than a prefix, or sharing one
        want[k] = k;
        batch.put(c, k, k);
      }
      ASSERT_TRUE(db.write(batch, true).ok());
    };
    auto scan_matches = [&](Database& db) {
      std::vector<std::pair<util::Bytes, util::Bytes>> seen;
      ASSERT_TRUE(db.for_each(c, [&](util::ByteSpan k, util::ByteSpan v) {
        seen.emplace_back(util::Bytes(k.begin(), k.end()), util::Bytes(v.begin(), v.end()));
        return true;
      }).ok());
      EXPECT_EQ(seen, (std::vector<std::pair<util::Bytes, util::Bytes>>(want.begin(), want.end())));
      for (const auto& [k, v] : want) EXPECT_EQ((*db.get(c, k).value()), v);
    };
    const std::string path = dir.sub("db" + std::to_string(static_cast<int>(c)));
    {
      auto db = Database::open(path);
      ASSERT_TRUE(db.ok()) << db.error().to_string();
      write_some(**db);
    }
    auto db = Database::open(path);  // recovery writes the log into a table file
    ASSERT_TRUE(db.ok()) << db.error().to_string();
    write_some(**db);  // and these stay in the memtable
    WriteBatch gone;
    gone.erase(c, b("ab"));
    want.erase(b("ab"));
    util::Bytes from = shared, to = shared;
    from.push_back(0x40);
    to.push_back(0xC0);
    gone.erase_range(c, from, to);
    std::erase_if(want, [&](const auto& kv) { return kv.first >= from && kv.first < to; });
    ASSERT_TRUE((*db)->write(gone, true).ok());
    EXPECT_FALSE((*db)->get(c, b("ab")).value().has_value());
    scan_matches(**db);
  }
}

TEST(Database, PersistsAcrossReopen) {
  TestDir dir;
  {
    auto db = Database::open(dir.sub("db"));
    ASSERT_TRUE(db.ok());
    WriteBatch batch;
    batch.put(Column::kMeta, b("tip"), b("abc"));
    ASSERT_TRUE((*db)->write(batch, true).ok());
  }
  auto db = Database::open(dir.sub("db"));
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*(*db)->get(Column::kMeta, b("tip")).value(), b("abc"));
}

// Writers that sync (SyncWAL, shared by callers that overlap) beside writers that do not:
// every call succeeds and every record is there after a reopen.
TEST(Database, SyncsFromSeveralThreadsBesideUnsyncedWriters) {
  TestDir dir;
  {
    auto db = Database::open(dir.sub("db"));
    ASSERT_TRUE(db.ok());
    Database& d = **db;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&d, t] {
        for (int i = 0; i < 200; ++i) {
          WriteBatch batch;
          batch.put(Column::kMeta, b("k" + std::to_string(t) + "-" + std::to_string(i)), b("v"));
          EXPECT_TRUE(d.write(batch, false).ok());
          if (t % 2 == 0) {
            EXPECT_TRUE(d.sync().ok());
          }
        }
      });
    for (auto& th : threads) th.join();
    EXPECT_TRUE(d.sync().ok());
  }
  auto db = Database::open(dir.sub("db"));
  ASSERT_TRUE(db.ok());
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 200; ++i)
      EXPECT_TRUE((*db)->get(Column::kMeta, b("k" + std::to_string(t) + "-" + std::to_string(i))).value().has_value());
}

TEST(Database, SecondOpenOfSameDirectoryFailsClearly) {
  TestDir dir;
  auto db = Database::open(dir.sub("db"));
  ASSERT_TRUE(db.ok());
  auto again = Database::open(dir.sub("db"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "io");
  EXPECT_NE(again.error().message.find("lock"), std::string::npos) << again.error().message;
}

TEST(Database, GarbageDirectoryRefused) {
  TestDir dir;
  std::filesystem::create_directories(dir.sub("db"));
  {
    std::ofstream(dir.sub("db/CURRENT")) << "MANIFEST-999999\n";
  }
  auto db = Database::open(dir.sub("db"));
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code, "io");
}

// A flipped byte in a table file is reported as corruption (never a value, never "absent"), and
// clear() still empties the column (reindex after corruption).
TEST(Database, FlippedByteInATableFileIsCorruptionAndClearStillWorks) {
  TestDir dir;
  {
    auto db = Database::open(dir.sub("db"));
    ASSERT_TRUE(db.ok());
    WriteBatch batch;
    for (int i = 0; i < 50; ++i) batch.put(Column::kAccounts, b("account-" + std::to_string(i)), b(std::string(16, 'v')));
    ASSERT_TRUE((*db)->write(batch, true).ok());
  }
  { ASSERT_TRUE(Database::open(dir.sub("db")).ok()); }  // recovery writes the log into a table file
  bool flipped = false;
  for (const auto& f : std::filesystem::directory_iterator(dir.sub("db"))) {
    if (f.path().extension() != ".sst") continue;
    std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(io)), {});
    // Only the accounts column holds records, so its table file is the only one.
    for (size_t i = 16; i < 24; ++i) data[i] = static_cast<char>(data[i] ^ 0xA5);  // the first data block
    io.seekp(0);
    io.write(data.data(), static_cast<std::streamsize>(data.size()));
    flipped = true;
  }
  ASSERT_TRUE(flipped);
  auto db = Database::open(dir.sub("db"));
  ASSERT_TRUE(db.ok()) << db.error().to_string();  // data blocks are checked when read
  auto v = (*db)->get(Column::kAccounts, b("account-1"));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, kErrCorrupt) << v.error().to_string();
  auto it = (*db)->for_each(Column::kAccounts, [](util::ByteSpan, util::ByteSpan) { return true; });
  ASSERT_FALSE(it.ok());
  EXPECT_EQ(it.error().code, kErrCorrupt);
  ASSERT_TRUE((*db)->clear(Column::kAccounts).ok());
  auto after = (*db)->get(Column::kAccounts, b("account-1"));
  ASSERT_TRUE(after.ok()) << after.error().to_string();
  EXPECT_FALSE(after->has_value());
  WriteBatch again;
  again.put(Column::kAccounts, b("account-1"), b("fresh"));
  ASSERT_TRUE((*db)->write(again, true).ok());
  EXPECT_EQ(*(*db)->get(Column::kAccounts, b("account-1")).value(), b("fresh"));
}
