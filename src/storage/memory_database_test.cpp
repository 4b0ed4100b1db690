#include "storage/memory_database.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

using namespace peerchain;
using namespace peerchain::storage;

namespace {

util::Bytes b(std::string_view s) { return util::Bytes(s.begin(), s.end()); }

std::unique_ptr<Database> open_db(const std::shared_ptr<MemoryDisk>& disk) {
  auto db = MemoryDatabase::open(disk);
  if (!db) ADD_FAILURE() << db.error().to_string();
  return db ? std::move(*db) : nullptr;
}

std::optional<util::Bytes> read(const Database& db, Column c, std::string_view key) {
  auto v = db.get(c, b(key));
  EXPECT_TRUE(v.ok()) << v.error().to_string();
  return v ? *v : std::nullopt;
}

util::Status put(Database& db, std::string_view key, std::string_view value, bool sync,
                 Column c = Column::kAccounts) {
  WriteBatch batch;
  batch.put(c, b(key), b(value));
  return db.write(batch, sync);
}

std::vector<std::string> keys(const Database& db, Column c) {
  std::vector<std::string> out;
  auto st = db.for_each(c, [&](util::ByteSpan k, util::ByteSpan) {
    out.emplace_back(k.begin(), k.end());
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.error().to_string();
  return out;
}

}  // namespace

TEST(MemoryDatabase, BatchPutGetEraseAcrossColumnsInOrder) {
  auto disk = MemoryDisk::create();
  auto db = open_db(disk);
  WriteBatch batch;
  batch.put(Column::kAccounts, b("k2"), b("v2"));
  batch.put(Column::kAccounts, b("k1"), b("v1"));
  batch.put(Column::kBlocks, b("k1"), b("block"));
  batch.put(Column::kAccounts, b("k3"), b("first"));
  batch.erase(Column::kAccounts, b("k3"));  // ops apply in order within a batch
  ASSERT_TRUE(db->write(batch, false).ok());
  EXPECT_EQ(read(*db, Column::kAccounts, "k1"), b("v1"));
  EXPECT_EQ(read(*db, Column::kBlocks, "k1"), b("block"));
  EXPECT_FALSE(read(*db, Column::kUndo, "k1"));
  EXPECT_FALSE(read(*db, Column::kAccounts, "k3"));
  EXPECT_EQ(keys(*db, Column::kAccounts), (std::vector<std::string>{"k1", "k2"}));
  ASSERT_TRUE(db->clear(Column::kAccounts).ok());
  EXPECT_TRUE(keys(*db, Column::kAccounts).empty());
  EXPECT_EQ(read(*db, Column::kBlocks, "k1"), b("block"));
}

TEST(MemoryDatabase, ForEachMergesDurableAndVolatileInKeyOrderAndStops) {
  auto disk = MemoryDisk::create();
  auto db = open_db(disk);
  ASSERT_TRUE(put(*db, "b", "1", true).ok());
  ASSERT_TRUE(put(*db, "d", "1", true).ok());
  ASSERT_TRUE(put(*db, "a", "2", false).ok());
  ASSERT_TRUE(put(*db, "c", "2", false).ok());
  WriteBatch erase;
  erase.erase(Column::kAccounts, b("d"));
  ASSERT_TRUE(db->write(erase, false).ok());
  EXPECT_EQ(keys(*db, Column::kAccounts), (std::vector<std::string>{"a", "b", "c"}));
  int seen = 0;
  ASSERT_TRUE(db->for_each(Column::kAccounts, [&](util::ByteSpan, util::ByteSpan) {
    ++seen;
    // A visitor may read the database (the RocksDB one allows it).
    EXPECT_EQ(read(*db, Column::kAccounts, "b"), b("1"));
    return seen < 2;
  }).ok());
  EXPECT_EQ(seen, 2);
}

TEST(MemoryDatabase, PowerCutLosesUnsyncedKeepsSynced) {
  auto disk = MemoryDisk::create();
  {
    auto db = open_db(disk);
    ASSERT_TRUE(put(*db, "synced", "1", true).ok());
    ASSERT_TRUE(put(*db, "volatile", "1", false).ok());
    ASSERT_TRUE(put(*db, "synced", "2", false).ok());  // an unsynced overwrite of a synced record
    WriteBatch erase;
    erase.erase(Column::kMeta, b("absent"));
    ASSERT_TRUE(db->write(erase, false).ok());
    EXPECT_EQ(read(*db, Column::kAccounts, "synced"), b("2"));
  }
  disk->power_cut();
  auto db = open_db(disk);
  EXPECT_EQ(read(*db, Column::kAccounts, "synced"), b("1"));
  EXPECT_FALSE(read(*db, Column::kAccounts, "volatile"));
  EXPECT_EQ(disk->counters().records_lost, 3u);
}

TEST(MemoryDatabase, ASyncedWriteMakesEveryEarlierWriteDurable) {
  auto disk = MemoryDisk::create();
  {
    auto db = open_db(disk);
    ASSERT_TRUE(put(*db, "a", "1", false).ok());
    WriteBatch erase;
    erase.erase(Column::kAccounts, b("a"));
    ASSERT_TRUE(put(*db, "b", "1", false, Column::kBlocks).ok());
    ASSERT_TRUE(put(*db, "c", "1", true, Column::kMeta).ok());
    ASSERT_TRUE(db->write(erase, false).ok());  // after the sync: lost again
  }
  disk->power_cut();
  auto db = open_db(disk);
  EXPECT_EQ(read(*db, Column::kAccounts, "a"), b("1"));
  EXPECT_EQ(read(*db, Column::kBlocks, "b"), b("1"));
  EXPECT_EQ(read(*db, Column::kMeta, "c"), b("1"));
}

TEST(MemoryDatabase, PowerCutCanKeepAPrefixOfTheUnsyncedBatches) {
  auto disk = MemoryDisk::create();
  {
    auto db = open_db(disk);
    ASSERT_TRUE(put(*db, "a", "synced", true).ok());
    EXPECT_EQ(disk->volatile_batches(), 0u);
    ASSERT_TRUE(put(*db, "b", "1", false).ok());
    WriteBatch second;
    second.erase(Column::kAccounts, b("a"));
    second.put(Column::kUndo, b("c"), b("1"));
    ASSERT_TRUE(db->write(second, false).ok());
    ASSERT_TRUE(put(*db, "b", "3", false).ok());
    ASSERT_TRUE(db->write(WriteBatch{}, false).ok());  // nothing to lose
    EXPECT_EQ(disk->volatile_batches(), 3u);
  }
  disk->power_cut(2);
  EXPECT_EQ(disk->volatile_batches(), 0u);
  EXPECT_EQ(disk->counters().records_lost, 1u);
  {
    auto db = open_db(disk);
    EXPECT_EQ(read(*db, Column::kAccounts, "b"), b("1"));  // the third batch is gone
    EXPECT_FALSE(read(*db, Column::kAccounts, "a"));       // the second one whole
    EXPECT_EQ(read(*db, Column::kUndo, "c"), b("1"));
  }
  disk->power_cut();  // what recovery replayed is durable
  auto db = open_db(disk);
  EXPECT_EQ(read(*db, Column::kAccounts, "b"), b("1"));
}

// A range erase covers durable and volatile records alike, at its place in the batch, and a
// power cut replays it as RocksDB's WAL would: only what it covered when it was written.
TEST(MemoryDatabase, EraseRangeCoversDurableAndVolatileRecordsAndReplaysAfterAPowerCut) {
  auto disk = MemoryDisk::create();
  {
    auto db = open_db(disk);
    ASSERT_TRUE(put(*db, "b1", "durable", true, Column::kMempool).ok());
    ASSERT_TRUE(put(*db, "a", "durable", true, Column::kMempool).ok());
    ASSERT_TRUE(put(*db, "b2", "volatile", false, Column::kMempool).ok());
    ASSERT_TRUE(put(*db, "c", "volatile", false, Column::kMempool).ok());
    WriteBatch range;
    range.erase_range(Column::kMempool, b("b"), b("c"));
    range.put(Column::kMempool, b("b3"), b("after"));
    ASSERT_TRUE(db->write(range, false).ok());
    EXPECT_EQ(keys(*db, Column::kMempool), (std::vector<std::string>{"a", "b3", "c"}));
  }
  disk->power_cut(3);  // the three unsynced batches were intact
  auto db = open_db(disk);
  EXPECT_EQ(keys(*db, Column::kMempool), (std::vector<std::string>{"a", "b3", "c"}));
}

TEST(MemoryDatabase, BatchIsAtomicAcrossAPowerCut) {
  auto disk = MemoryDisk::create();
  {
    auto db = open_db(disk);
    WriteBatch synced, unsynced;
    for (int i = 0; i < 10; ++i) synced.put(Column::kAccounts, b("s" + std::to_string(i)), b("v"));
    for (int i = 0; i < 10; ++i) unsynced.put(Column::kUndo, b("u" + std::to_string(i)), b("v"));
    ASSERT_TRUE(db->write(synced, true).ok());
    ASSERT_TRUE(db->write(unsynced, false).ok());
  }
  disk->power_cut();
  auto db = open_db(disk);
  EXPECT_EQ(keys(*db, Column::kAccounts).size(), 10u);
  EXPECT_EQ(keys(*db, Column::kUndo).size(), 0u);
}

TEST(MemoryDatabase, KillKeepsEveryWriteStillVolatile) {
  auto disk = MemoryDisk::create();
  auto db = open_db(disk);
  ASSERT_TRUE(put(*db, "v", "1", false).ok());
  disk->kill();  // the process dies before its database object is destroyed
  EXPECT_FALSE(disk->locked());
  auto dead = db->get(Column::kAccounts, b("v"));
  ASSERT_FALSE(dead.ok());
  EXPECT_EQ(dead.error().code, kErrIo);
  EXPECT_FALSE(put(*db, "w", "1", true).ok());
  auto again = open_db(disk);
  db.reset();  // the dead object's destructor leaves the new owner's lock alone
  EXPECT_TRUE(disk->locked());
  EXPECT_EQ(read(*again, Column::kAccounts, "v"), b("1"));
  EXPECT_FALSE(read(*again, Column::kAccounts, "w"));
  again.reset();
  disk->power_cut();  // the page cache never reached the disk
  again = open_db(disk);
  EXPECT_FALSE(read(*again, Column::kAccounts, "v"));
}

TEST(MemoryDatabase, SecondOpenOfSameDiskFailsLocked) {
  auto disk = MemoryDisk::create();
  auto db = open_db(disk);
  auto again = MemoryDatabase::open(disk);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, kErrIo);
  EXPECT_NE(again.error().message.find("locked"), std::string::npos) << again.error().message;
  db.reset();
  EXPECT_TRUE(MemoryDatabase::open(disk).ok());
}

TEST(MemoryDatabase, FailedWritesChangeNothingAndBlockUntilResume) {
  auto disk = MemoryDisk::create();
  auto db = open_db(disk);
  ASSERT_TRUE(put(*db, "a", "1", true).ok());
  disk->fail_writes(kErrNoSpace);
  WriteBatch batch;
  batch.put(Column::kAccounts, b("a"), b("2"));
  batch.put(Column::kAccounts, b("b"), b("2"));
  auto st = db->write(batch, false);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, kErrNoSpace);
  EXPECT_EQ(read(*db, Column::kAccounts, "a"), b("1"));
  EXPECT_FALSE(read(*db, Column::kAccounts, "b"));
  EXPECT_FALSE(db->resume().ok());
  EXPECT_FALSE(db->clear(Column::kAccounts).ok());
  disk->clear_write_faults();
  // The background error holds until resume(), though the disk is fine again.
  EXPECT_EQ(db->write(batch, false).error().code, kErrNoSpace);
  ASSERT_TRUE(db->resume().ok());
  ASSERT_TRUE(db->write(batch, false).ok());
  EXPECT_EQ(read(*db, Column::kAccounts, "b"), b("2"));
  // The write and the resume; the clear was refused by the background error, off the disk.
  EXPECT_EQ(disk->counters().faults_triggered, 2u);
}

TEST(MemoryDatabase, CountedFaultFailsTheNextDiskOperationsThenClearsItself) {
  auto disk = MemoryDisk::create();
  auto db = open_db(disk);
  disk->fail_writes(kErrIo, 2);
  auto st = put(*db, "a", "1", false);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, kErrIo);
  EXPECT_FALSE(db->resume().ok());  // the second
  ASSERT_TRUE(db->resume().ok());
  ASSERT_TRUE(put(*db, "a", "1", false).ok());
  EXPECT_EQ(disk->counters().faults_triggered, 2u);
}

TEST(MemoryDatabase, FailedFsyncSparesUnsyncedWrites) {
  auto disk = MemoryDisk::create();
  {
    auto db = open_db(disk);
    disk->fail_synced_writes(kErrIo);
    ASSERT_TRUE(put(*db, "volatile", "1", false).ok());
    auto st = put(*db, "synced", "1", true);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, kErrIo);
    EXPECT_FALSE(read(*db, Column::kAccounts, "synced"));
    EXPECT_FALSE(put(*db, "later", "1", false).ok());  // background error
    EXPECT_FALSE(db->resume().ok());
    disk->clear_write_faults();
    ASSERT_TRUE(db->resume().ok());
    ASSERT_TRUE(put(*db, "later", "1", false).ok());
  }
  disk->power_cut();  // the failed fsync made nothing durable
  auto db = open_db(disk);
  EXPECT_FALSE(read(*db, Column::kAccounts, "volatile"));
  EXPECT_FALSE(read(*db, Column::kAccounts, "later"));
}

// sync() is the fsync of RocksDB's SyncWAL: every write before it survives a power cut, a
// write after it does not; a failed one makes nothing durable and blocks writes until resume().
TEST(MemoryDatabase, SyncMakesEveryEarlierWriteDurable) {
  auto disk = MemoryDisk::create();
  {
    auto db = open_db(disk);
    ASSERT_TRUE(put(*db, "a", "1", false).ok());
    ASSERT_TRUE(put(*db, "b", "2", false).ok());
    ASSERT_TRUE(db->sync().ok());
    EXPECT_EQ(disk->volatile_batches(), 0u);
    ASSERT_TRUE(put(*db, "c", "3", false).ok());
    disk->fail_synced_writes(kErrIo, 1);
    ASSERT_TRUE(put(*db, "d", "4", false).ok());
    EXPECT_EQ(db->sync().error().code, kErrIo);
    EXPECT_FALSE(put(*db, "e", "5", false).ok());  // background error
    ASSERT_TRUE(db->resume().ok());
    EXPECT_EQ(disk->counters().syncs, 1u);
  }
  disk->power_cut();
  auto db = open_db(disk);
  EXPECT_EQ(read(*db, Column::kAccounts, "a"), b("1"));
  EXPECT_EQ(read(*db, Column::kAccounts, "b"), b("2"));
  EXPECT_FALSE(read(*db, Column::kAccounts, "c"));
  EXPECT_FALSE(read(*db, Column::kAccounts, "d"));
}

TEST(MemoryDatabase, ReopenClearsTheBackgroundErrorNotTheFault) {
  auto disk = MemoryDisk::create();
  auto db = open_db(disk);
  disk->fail_writes(kErrNoSpace);
  ASSERT_FALSE(put(*db, "a", "1", true).ok());
  db.reset();
  db = open_db(disk);
  EXPECT_EQ(put(*db, "a", "1", true).error().code, kErrNoSpace);
  disk->clear_write_faults();
  db.reset();
  db = open_db(disk);
  EXPECT_TRUE(put(*db, "a", "1", true).ok());
}

TEST(MemoryDatabase, CorruptRecordFailsReadsUntilRewritten) {
  auto disk = MemoryDisk::create();
  auto db = open_db(disk);
  ASSERT_TRUE(put(*db, "a", "1", true).ok());
  ASSERT_TRUE(put(*db, "b", "1", true).ok());
  ASSERT_TRUE(put(*db, "c", "1", true).ok());
  disk->corrupt(Column::kAccounts, b("b"));
  auto v = db->get(Column::kAccounts, b("b"));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, kErrCorrupt);
  EXPECT_EQ(read(*db, Column::kAccounts, "a"), b("1"));
  std::vector<std::string> visited;
  auto st = db->for_each(Column::kAccounts, [&](util::ByteSpan k, util::ByteSpan) {
    visited.emplace_back(k.begin(), k.end());
    return true;
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, kErrCorrupt);
  EXPECT_EQ(visited, std::vector<std::string>{"a"});  // stops at the bad record
  // Persistent: a reopen reads the same bytes.
  db.reset();
  db = open_db(disk);
  EXPECT_FALSE(db->get(Column::kAccounts, b("b")).ok());
  ASSERT_TRUE(put(*db, "b", "2", false).ok());
  EXPECT_EQ(read(*db, Column::kAccounts, "b"), b("2"));
  EXPECT_EQ(disk->counters().faults_triggered, 3u);
}

TEST(MemoryDatabase, CorruptColumnFailsEveryReadUntilCleared) {
  auto disk = MemoryDisk::create();
  auto db = open_db(disk);
  ASSERT_TRUE(put(*db, "a", "1", true).ok());
  ASSERT_TRUE(put(*db, "x", "1", true, Column::kBlocks).ok());
  disk->corrupt_column(Column::kAccounts);
  EXPECT_EQ(db->get(Column::kAccounts, b("a")).error().code, kErrCorrupt);
  EXPECT_EQ(db->get(Column::kAccounts, b("absent")).error().code, kErrCorrupt);
  EXPECT_EQ(db->for_each(Column::kAccounts, [](util::ByteSpan, util::ByteSpan) { return true; }).error().code,
            kErrCorrupt);
  ASSERT_TRUE(put(*db, "a", "2", true).ok());
  EXPECT_FALSE(db->get(Column::kAccounts, b("a")).ok());
  EXPECT_EQ(read(*db, Column::kBlocks, "x"), b("1"));
  ASSERT_TRUE(db->clear(Column::kAccounts).ok());
  EXPECT_FALSE(read(*db, Column::kAccounts, "a"));
  ASSERT_TRUE(put(*db, "a", "3", true).ok());
  EXPECT_EQ(read(*db, Column::kAccounts, "a"), b("3"));
}

TEST(MemoryDatabase, ClearIsDurableAndClearingMetaSyncsEverything) {
  auto disk = MemoryDisk::create();
  {
    auto db = open_db(disk);
    ASSERT_TRUE(put(*db, "a", "1", true).ok());
    ASSERT_TRUE(put(*db, "u", "1", false, Column::kUndo).ok());
    ASSERT_TRUE(db->clear(Column::kAccounts).ok());
  }
  disk->power_cut();
  {
    auto db = open_db(disk);
    EXPECT_FALSE(read(*db, Column::kAccounts, "a"));
    EXPECT_FALSE(read(*db, Column::kUndo, "u"));  // clearing another column synced nothing
    ASSERT_TRUE(put(*db, "gone", "1", false).ok());
    ASSERT_TRUE(db->clear(Column::kAccounts).ok());
    EXPECT_EQ(disk->volatile_batches(), 0u);  // the cleared column's unsynced ops went with it
    ASSERT_TRUE(put(*db, "u", "1", false, Column::kUndo).ok());
    ASSERT_TRUE(db->clear(Column::kMeta).ok());
  }
  disk->power_cut();
  auto db = open_db(disk);
  EXPECT_EQ(read(*db, Column::kUndo, "u"), b("1"));
}

TEST(MemoryDatabase, CountsWritesSyncsAndBytes) {
  auto disk = MemoryDisk::create();
  auto db = open_db(disk);
  ASSERT_TRUE(put(*db, "ab", "cde", false).ok());
  ASSERT_TRUE(put(*db, "f", "", true).ok());
  auto c = disk->counters();
  EXPECT_EQ(c.writes, 2u);
  EXPECT_EQ(c.synced_writes, 1u);
  EXPECT_EQ(c.bytes, 6u);
  EXPECT_EQ(c.faults_triggered, 0u);
}

// Real threads (unit tests of the real world use it too): concurrent batches all land whole.
TEST(MemoryDatabase, ConcurrentWritersAndReaders) {
  auto disk = MemoryDisk::create();
  auto db = open_db(disk);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        WriteBatch batch;
        batch.put(Column::kAccounts, b("t" + std::to_string(t) + "-" + std::to_string(i)), b("v"));
        batch.put(Column::kUndo, b("t" + std::to_string(t) + "-" + std::to_string(i)), b("v"));
        EXPECT_TRUE(db->write(batch, i % 10 == 0).ok());
        EXPECT_TRUE(db->get(Column::kUndo, b("t" + std::to_string(t) + "-" + std::to_string(i))).ok());
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(keys(*db, Column::kAccounts).size(), 800u);
  EXPECT_EQ(keys(*db, Column::kUndo).size(), 800u);
  EXPECT_EQ(disk->counters().writes, 800u);
}
