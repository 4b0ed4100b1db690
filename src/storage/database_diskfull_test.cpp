// A real RocksDB database on a small tmpfs that this test mounts (root only; skipped without):
// a full disk is an error that says so, never an abort of the process, and writes resume once
// space is free (ADR 0029). Debian's RocksDB 7.8 is built with assertions, and a log writer that
// failed once aborts the process when touched again: these cases each aborted before the fix.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/database.h"
#include "storage/test_dir.h"

using namespace peerchain;
using namespace peerchain::storage;

namespace {

util::Bytes key_of(size_t i) {
  std::string s = "key-" + std::to_string(i);
  return util::Bytes(s.begin(), s.end());
}

// A tmpfs of `mib` MiB at a temporary directory, unmounted (lazily: a leaked handle may still
// hold files) at scope exit.
class SmallDisk {
 public:
  explicit SmallDisk(int mib) {
    const std::string opts = "size=" + std::to_string(mib) + "m";
    mounted_ = ::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, opts.c_str()) == 0;
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  std::string sub(const std::string& name) const { return dir_.sub(name); }

  uint64_t free_bytes() const {
    struct statvfs st {};
    ::statvfs(dir_.path().c_str(), &st);
    return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  }
  // Takes all but `leave` bytes of the free space into a filler file.
  void fill(uint64_t leave = 0) {
    int fd = ::open(sub("filler").c_str(), O_CREAT | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    const uint64_t free = free_bytes();
    if (free > leave) ::posix_fallocate(fd, 0, static_cast<off_t>(free - leave));
    // What fallocate could not take in one go (tmpfs rounds to pages), write takes.
    std::vector<char> page(4096, 'x');
    while (leave == 0 && ::write(fd, page.data(), page.size()) > 0) {
    }
    ::close(fd);
  }
  void unfill() { ::unlink(sub("filler").c_str()); }

 private:
  TestDir dir_;
  bool mounted_ = false;
};

// A batch of `n` records of `size` bytes each, keyed from `first`, over two columns: the log
// grows twice as fast as either memtable, so it meets the full disk before a flush does.
WriteBatch batch_of(size_t first, size_t n, size_t size) {
  WriteBatch b;
  for (size_t i = first; i < first + n; ++i)
    b.put(i % 2 ? Column::kUndo : Column::kBlocks, key_of(i), util::Bytes(size, 0x5a));
  return b;
}
bool has(Database& db, size_t i) {
  auto v = db.get(i % 2 ? Column::kUndo : Column::kBlocks, key_of(i));
  return v.ok() && v->has_value();
}

// Small memtables, so that RocksDB preallocates little of its log (1.1 write buffers) at a time.
Options small_buffers() {
  Options o;
  o.min_free_bytes = 0;  // no reserve: RocksDB itself meets the full disk
  o.write_buffer_bytes = 4 << 20;
  return o;
}

// resume() until it succeeds or fails for a reason other than a recovery still under way
// (RocksDB's own, started when the disk filled, holds resume() off until it is done).
util::Status resume_settled(Database& db) {
  util::Status st;
  for (int i = 0; i < 300; ++i) {
    st = db.resume();
    if (st.ok() || st.error().message.find("under way") == std::string::npos) return st;
    ::usleep(100 * 1000);
  }
  return st;
}

#define NEEDS_MOUNT(disk) \
  if (!(disk).mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root)"

}  // namespace

// RocksDB's log meets the full disk with writes in its memtables: the write fails as no-space,
// later writes and syncs are refused without touching the failed writer, and once space is free
// resume() starts a new log and every write acknowledged before and after is kept.
TEST(DatabaseDiskFull, LogMeetsAFullDiskAndWritesResumeOnceSpaceIsFree) {
  SmallDisk disk(32);
  NEEDS_MOUNT(disk);
  const Options opts = small_buffers();
  auto db = Database::open(disk.sub("db"), opts);
  ASSERT_TRUE(db.ok()) << db.error().to_string();
  size_t next = 0;
  for (int i = 0; i < 4; ++i, next += 8) ASSERT_TRUE((*db)->write(batch_of(next, 8, 1024), false).ok());
  ASSERT_TRUE((*db)->sync().ok());
  const size_t acknowledged = next;

  disk.fill();
  util::Status st;
  for (int i = 0; i < 256 && st.ok(); ++i) {
    st = (*db)->write(batch_of(next, 8, 8 << 10), false);
    if (st.ok()) next += 8;
  }
  ASSERT_FALSE(st.ok()) << "the disk never filled";
  EXPECT_EQ(st.error().code, kErrNoSpace) << st.error().to_string();
  EXPECT_NE(st.error().message.find(".log"), std::string::npos) << "not the log: " << st.error().to_string();
  // Refused, not aborted: the failed log writer is not touched again.
  auto again = (*db)->write(batch_of(next, 1, 16), false);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, kErrNoSpace);
  auto synced = (*db)->sync();
  ASSERT_FALSE(synced.ok());
  EXPECT_EQ(synced.error().code, kErrNoSpace);
  EXPECT_FALSE((*db)->resume().ok()) << "resumed on a disk still full";

  disk.unfill();
  auto resumed = resume_settled(**db);
  ASSERT_TRUE(resumed.ok()) << resumed.error().to_string();
  ASSERT_TRUE((*db)->write(batch_of(100000, 4, 1024), true).ok());
  db->reset();  // closes cleanly: the failed writer was replaced

  auto reopened = Database::open(disk.sub("db"), opts);
  ASSERT_TRUE(reopened.ok()) << reopened.error().to_string();
  for (size_t i = 0; i < acknowledged; ++i) EXPECT_TRUE(has(**reopened, i)) << i;
  for (size_t i = 100000; i < 100004; ++i) EXPECT_TRUE(has(**reopened, i)) << i;
}

// The first write after open fails, so every memtable is empty: RocksDB 7.8's resume then keeps
// the failed log writer, and the next write through it would abort. resume() says a restart is
// needed instead, writes stay refused, and the restarted database has everything acknowledged.
TEST(DatabaseDiskFull, FailureWithEmptyMemtablesNeverTouchesTheFailedLogAgain) {
  SmallDisk disk(32);
  NEEDS_MOUNT(disk);
  const Options opts = small_buffers();
  {
    auto db = Database::open(disk.sub("db"), opts);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->write(batch_of(0, 8, 1024), true).ok());
  }
  auto db = Database::open(disk.sub("db"), opts);  // recovery leaves the memtables empty
  ASSERT_TRUE(db.ok()) << db.error().to_string();
  disk.fill();
  auto st = (*db)->write(batch_of(8, 64, 16 << 10), false);
  ASSERT_FALSE(st.ok()) << "the disk never filled";
  EXPECT_EQ(st.error().code, kErrNoSpace);
  disk.unfill();
  auto resumed = resume_settled(**db);
  if (resumed.ok()) {
    // A RocksDB that starts a new log on resume: writes simply go on.
    EXPECT_TRUE((*db)->write(batch_of(8, 1, 16), true).ok());
  } else {
    EXPECT_NE(resumed.error().message.find("restarted"), std::string::npos) << resumed.error().to_string();
    EXPECT_FALSE((*db)->write(batch_of(8, 1, 16), true).ok());
    (void)(*db)->sync();  // nothing written since the last sync: nothing to do, nothing touched
    EXPECT_FALSE((*db)->resume().ok());
  }
  db->reset();  // left unclosed if the failed writer is still current: as after a crash
  if (!resumed.ok()) return;  // the handle holds the directory's lock until the process exits
  auto reopened = Database::open(disk.sub("db"), opts);
  ASSERT_TRUE(reopened.ok()) << reopened.error().to_string();
  for (size_t i = 0; i < 8; ++i) EXPECT_TRUE(has(**reopened, i)) << i;
}

// With the reserve, the node's own writes stop before the disk is full: RocksDB never meets it,
// syncs of what was written still succeed, and writes resume once the reserve is free again.
TEST(DatabaseDiskFull, ReserveRefusesWritesBeforeRocksDbMeetsAFullDisk) {
  SmallDisk disk(32);
  NEEDS_MOUNT(disk);
  Options opts;
  opts.min_free_bytes = 64 << 20;  // capped at 1/32 of the disk: 1 MiB here
  auto db = Database::open(disk.sub("db"), opts);
  ASSERT_TRUE(db.ok()) << db.error().to_string();
  ASSERT_TRUE((*db)->write(batch_of(0, 8, 1024), false).ok());
  disk.fill(512 << 10);
  auto st = (*db)->write(batch_of(8, 8, 1024), false);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, kErrNoSpace);
  EXPECT_NE(st.error().message.find("kept free"), std::string::npos) << st.error().to_string();
  EXPECT_TRUE((*db)->sync().ok()) << "the log is sound: what was written can be synced";
  EXPECT_FALSE((*db)->resume().ok());
  disk.unfill();
  ASSERT_TRUE((*db)->resume().ok());
  ASSERT_TRUE((*db)->write(batch_of(8, 8, 1024), true).ok());
  EXPECT_TRUE(has(**db, 15));
}
