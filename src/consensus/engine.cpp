#include "consensus/engine.h"

#include "consensus/pow.h"

namespace peerchain::consensus {
namespace {

class PowEngine final : public Engine {
 public:
  explicit PowEngine(const Params& p) : params_(p) {}

  Checked<> check_seal(const BlockHeader& h) const override { return check_header_pow(params_, h); }

  Uint256 block_work(const BlockHeader& h) const override {
    auto t = decode_compact(h.bits);
    return t ? work_from_target(*t) : Uint256(0);
  }

  uint32_t next_bits(const ParentContext& ctx) const override {
    return consensus::next_bits(params_, ctx);
  }

  bool better_chain(const Uint256& work_a, uint64_t seq_a, const Uint256& work_b,
                    uint64_t seq_b) const override {
    return consensus::better_chain(work_a, seq_a, work_b, seq_b);
  }

 private:
  const Params params_;
};

}  // namespace

std::unique_ptr<Engine> make_pow_engine(const Params& params) {
  return std::make_unique<PowEngine>(params);
}

}  // namespace peerchain::consensus
