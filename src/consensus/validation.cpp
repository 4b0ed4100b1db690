#include "consensus/validation.h"

namespace peerchain::consensus {

std::string_view reject_token(RejectCode c) {
  switch (c) {
    case RejectCode::kMalformed: return "malformed";
    case RejectCode::kWrongChain: return "wrong-chain";
    case RejectCode::kBadAmount: return "bad-amount";
    case RejectCode::kBadFee: return "bad-fee";
    case RejectCode::kSelfTransfer: return "self-transfer";
    case RejectCode::kBadRecipient: return "bad-recipient";
    case RejectCode::kBadSender: return "bad-sender";
    case RejectCode::kBadSignature: return "bad-signature";
    case RejectCode::kNonceTooLow: return "nonce-too-low";
    case RejectCode::kNonceTooHigh: return "nonce-too-high";
    case RejectCode::kInsufficientFunds: return "insufficient-funds";
    case RejectCode::kBalanceOverflow: return "balance-overflow";
    case RejectCode::kDuplicate: return "duplicate";
    case RejectCode::kMempoolFull: return "mempool-full";
    case RejectCode::kReplacementFeeTooLow: return "replacement-fee-too-low";
    case RejectCode::kTooManyPending: return "too-many-pending";
    case RejectCode::kFeeTooLow: return "fee-too-low";
    case RejectCode::kBadVersion: return "bad-version";
    case RejectCode::kBadPow: return "bad-pow";
    case RejectCode::kBadTarget: return "bad-target";
    case RejectCode::kBadMerkleRoot: return "bad-merkle-root";
    case RejectCode::kBadHeight: return "bad-height";
    case RejectCode::kTimeTooOld: return "time-too-old";
    case RejectCode::kTimeTooNew: return "time-too-new";
    case RejectCode::kTooManyTxs: return "too-many-txs";
    case RejectCode::kBlockTooLarge: return "block-too-large";
    case RejectCode::kBadTx: return "bad-tx";
    case RejectCode::kMissingParent: return "missing-parent";
    case RejectCode::kInvalidParent: return "invalid-parent";
    case RejectCode::kBadGenesis: return "bad-genesis";
    case RejectCode::kDuplicateBlock: return "duplicate-block";
  }
  return "unknown";
}

}  // namespace peerchain::consensus
