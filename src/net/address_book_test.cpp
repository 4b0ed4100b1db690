#include "net/address_book.h"

#include <gtest/gtest.h>

#include "net/backoff.h"

using namespace peerchain::net;

namespace {

NetAddress addr(int i, uint16_t port = 9000) {
  return *NetAddress::from_ip("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), port);
}
const auto kNoSkip = [](const NetAddress&) { return false; };

}  // namespace

TEST(Backoff, ExponentialCappedWithBoundedJitter) {
  Backoff b{500, 30'000};
  EXPECT_EQ(b.delay_ms(1, 0), 500);
  EXPECT_EQ(b.delay_ms(2, 0), 1000);
  EXPECT_EQ(b.delay_ms(3, 0), 2000);
  EXPECT_EQ(b.delay_ms(7, 0), 30'000);
  EXPECT_EQ(b.delay_ms(1'000'000, 0), 30'000);
  EXPECT_EQ(b.delay_ms(0, 0), 500);
  for (uint64_t r = 0; r < 1000; r += 7) {
    for (uint32_t f = 1; f < 70; ++f) {
      int64_t nominal = std::min<int64_t>(30'000, f > 20 ? 30'000 : int64_t{500} << (f - 1));
      int64_t d = b.delay_ms(f, r * 0x9e3779b97f4a7c15ULL);
      EXPECT_LE(d, nominal);
      EXPECT_GE(d, nominal - nominal / 4);
    }
  }
  EXPECT_GE((Backoff{0, 0}.delay_ms(3, 12345)), 1);
}

TEST(AddressBook, AddsOnlyDialableNewAddresses) {
  AddressBook book(10, Backoff{100, 1000});
  EXPECT_EQ(book.add({addr(1), addr(1), addr(2), *NetAddress::from_ip("0.0.0.0", 1), addr(3, 0)}, 1), 2u);
  EXPECT_EQ(book.size(), 2u);
  EXPECT_EQ(book.add({addr(1)}, 5), 0u);
  EXPECT_EQ(book.find(addr(1))->last_seen_ms, 5);
}

TEST(AddressBook, BoundedAndKeepsWorkingAddresses) {
  AddressBook book(3, Backoff{100, 1000});
  book.add({addr(1), addr(2), addr(3)}, 0);
  // Full of untried addresses: newcomers are dropped.
  EXPECT_EQ(book.add({addr(4)}, 0), 0u);
  EXPECT_FALSE(book.contains(addr(4)));
  // A failing one makes room; a connected one never does.
  book.on_connected(addr(1), 0);
  book.on_dial_failed(addr(2), 0, 0);
  EXPECT_EQ(book.add({addr(4), addr(5)}, 0), 1u);
  EXPECT_TRUE(book.contains(addr(4)));
  EXPECT_FALSE(book.contains(addr(2)));
  EXPECT_TRUE(book.contains(addr(1)));
  EXPECT_EQ(book.size(), 3u);
  // Thousands of gossiped addresses never grow it.
  std::vector<NetAddress> flood;
  for (int i = 10; i < 5000; ++i) flood.push_back(addr(i));
  book.add(flood, 0);
  EXPECT_EQ(book.size(), 3u);
}

TEST(AddressBook, BackoffAndForgetting) {
  AddressBook book(10, Backoff{100, 1000}, 3);
  book.add({addr(1)}, 0);
  EXPECT_EQ(book.dial_candidates(0, 5, kNoSkip).size(), 1u);
  book.on_dial_failed(addr(1), 1000, 0);
  EXPECT_TRUE(book.dial_candidates(1050, 5, kNoSkip).empty());
  EXPECT_EQ(book.dial_candidates(1100, 5, kNoSkip).size(), 1u);
  book.on_dial_failed(addr(1), 2000, 0);
  EXPECT_TRUE(book.dial_candidates(2150, 5, kNoSkip).empty());
  EXPECT_EQ(book.dial_candidates(2200, 5, kNoSkip).size(), 1u);
  book.on_dial_failed(addr(1), 3000, 0);  // third failure, never connected: forgotten
  EXPECT_FALSE(book.contains(addr(1)));

  // A connected address is kept whatever happens, with a capped backoff.
  book.on_connected(addr(2), 0);
  for (int i = 0; i < 50; ++i) book.on_dial_failed(addr(2), 0, 0);
  EXPECT_TRUE(book.contains(addr(2)));
  EXPECT_EQ(book.find(addr(2))->next_dial_ms, 1000);
}

TEST(AddressBook, CandidatesAndSamplesPreferWorkingAddresses) {
  AddressBook book(10, Backoff{100, 1000});
  book.add({addr(1), addr(2), addr(3)}, 10);
  book.on_connected(addr(3), 20);
  auto c = book.dial_candidates(0, 2, kNoSkip);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], addr(3));
  auto skip2 = [](const NetAddress& a) { return a == addr(3); };
  EXPECT_EQ(book.dial_candidates(0, 5, skip2).size(), 2u);
  auto s = book.sample(10, kNoSkip);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0], addr(3));
  EXPECT_EQ(book.sample(1, kNoSkip).size(), 1u);
}
