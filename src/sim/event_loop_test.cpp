#include "sim/event_loop.h"

#include <gtest/gtest.h>

#include <string>

namespace peerchain::sim {
namespace {

struct World {
  std::vector<uint64_t> incarnation = {1, 1};
  std::vector<bool> paused = {false, false};
  EventLoop loop{EventLoop::NodeGate{[this](int n) { return incarnation[static_cast<size_t>(n)]; },
                                     [this](int n) { return static_cast<bool>(paused[static_cast<size_t>(n)]); }}};
};

TEST(EventLoop, RunsInTimeThenScheduleOrder) {
  World w;
  std::string seen;
  w.loop.at(20, Owner{}, [&] { seen += "c"; });
  w.loop.at(10, Owner{}, [&] { seen += "a"; });
  w.loop.at(10, Owner{}, [&] { seen += "b"; });
  w.loop.run_until(100);
  EXPECT_EQ(seen, "abc");
  EXPECT_EQ(w.loop.now(), 100);
}

TEST(EventLoop, CancelledEventsDoNotRun) {
  World w;
  int runs = 0;
  auto id = w.loop.at(10, Owner{}, [&] { ++runs; });
  w.loop.cancel(id);
  w.loop.run_until(100);
  EXPECT_EQ(runs, 0);
}

TEST(EventLoop, EventsOfACrashedLifeAreDropped) {
  World w;
  int runs = 0;
  w.loop.at(10, Owner{0, 1}, [&] { ++runs; });
  w.loop.at(5, Owner{}, [&] { w.incarnation[0] = 2; });
  w.loop.run_until(100);
  EXPECT_EQ(runs, 0);
}

TEST(EventLoop, APausedNodesEventsWaitInOrderUntilReleased) {
  World w;
  std::string seen;
  w.paused[1] = true;
  w.loop.at(10, Owner{1, 1}, [&] { seen += "x"; });
  w.loop.at(20, Owner{1, 1}, [&] { seen += "y"; });
  w.loop.at(30, Owner{0, 1}, [&] { seen += "o"; });
  w.loop.run_until(50);
  EXPECT_EQ(seen, "o");
  w.paused[1] = false;
  w.loop.release(1);
  w.loop.run_until(60);
  EXPECT_EQ(seen, "oxy");
}

}  // namespace
}  // namespace peerchain::sim
