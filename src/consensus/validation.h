// consensus/validation.h — why something was rejected.
//
// Validation says why; the caller (mempool, peer layer, RPC) decides what it means (refuse,
// punish the sender, fetch a parent). Every code has a stable token (reject_token) used in logs,
// metrics and RPC error data.
#pragma once

#include <string>
#include <string_view>

#include "util/result.h"

namespace peerchain::consensus {

enum class RejectCode {
  // Shape and encoding
  kMalformed,          // bytes do not decode
  kWrongChain,         // transaction for another chain id
  kBadAmount,          // zero or out of money range
  kBadFee,             // out of money range
  kSelfTransfer,       // sender == recipient
  kBadRecipient,       // recipient is not a valid public key
  kBadSender,          // sender is not a valid public key
  kBadSignature,
  // Contextual transaction
  kNonceTooLow,
  kNonceTooHigh,
  kInsufficientFunds,
  kBalanceOverflow,    // credit would exceed the money range
  // Mempool policy
  kDuplicate,
  kMempoolFull,
  kReplacementFeeTooLow,
  kTooManyPending,
  kFeeTooLow,
  // Blocks
  kBadVersion,
  kBadPow,
  kBadTarget,          // bits differ from the retarget rule, or invalid compact form
  kBadMerkleRoot,
  kBadHeight,
  kTimeTooOld,         // not after the median of the previous blocks
  kTimeTooNew,         // too far in the future
  kTooManyTxs,
  kBlockTooLarge,
  kBadTx,              // a transaction in the block is invalid (detail says which)
  kMissingParent,
  kInvalidParent,      // descends from a block known invalid
  kBadGenesis,
  kDuplicateBlock,
};

std::string_view reject_token(RejectCode c);

struct Rejection {
  RejectCode code;
  std::string detail;

  std::string to_string() const {
    std::string s(reject_token(code));
    return detail.empty() ? s : s + ": " + detail;
  }
};

template <typename T = void>
using Checked = util::Result<T, Rejection>;

inline util::Unexpected<Rejection> reject(RejectCode c, std::string detail = {}) {
  return {Rejection{c, std::move(detail)}};
}

}  // namespace peerchain::consensus
