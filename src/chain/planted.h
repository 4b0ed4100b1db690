// chain/planted.h — bugs planted on purpose, compiled only into the simulator's test build
// (peerchain-sim-planted, built with PEERCHAIN_PLANTED_BUGS), so the simulator can show that it
// finds them (issue 12: "It must be able to fail"). In every other build on() is a constant false
// and the compiler removes the planted code.
//
//   1  a disconnected block's undo does not restore one account (balances no longer re-derive)
//   2  a reorg does not return the disconnected blocks' transfers to the mempool (acknowledged
//      transfers are lost)
//   3  a block too far in the future is blamed on the peer that sent it, though it is our clock
//      that may be behind (honest peers are penalised when a node's clock is skewed)
#pragma once

namespace peerchain::chain::planted {

#ifdef PEERCHAIN_PLANTED_BUGS
inline int live = 0;  // which planted bug is live in this test build (0: none)
inline bool on(int n) { return live == n; }
#else
constexpr bool on(int) { return false; }
#endif

}  // namespace peerchain::chain::planted
