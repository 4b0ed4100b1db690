// consensus/engine.h — the seam between the chain and its consensus engine.
//
// The chain asks an Engine whether a header is sealed, how much work it adds, what the next
// header's target must be and which of two chains wins. Nakamoto proof of work is the one
// engine today; a BFT engine with instant finality would implement the same interface without
// touching net, storage or rpc.
#pragma once

#include <memory>

#include "consensus/checks.h"

namespace peerchain::consensus {

class Engine {
 public:
  virtual ~Engine() = default;
  // The header's seal (proof of work) and its self-described target.
  virtual Checked<> check_seal(const BlockHeader& h) const = 0;
  // Work a header adds to its chain.
  virtual Uint256 block_work(const BlockHeader& h) const = 0;
  // The target ("bits") a child of ctx.parent must carry.
  virtual uint32_t next_bits(const ParentContext& ctx) const = 0;
  // Fork choice: true iff chain a is preferred to chain b.
  virtual bool better_chain(const Uint256& work_a, uint64_t seq_a, const Uint256& work_b,
                            uint64_t seq_b) const = 0;
};

std::unique_ptr<Engine> make_pow_engine(const Params& params);

}  // namespace peerchain::consensus
