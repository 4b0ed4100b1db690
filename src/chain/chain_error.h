// chain/chain_error.h — why the chain did not take a block or a transaction: the sender's fault
// or ours.
//
// A consensus::Rejection is the input's fault (a peer that sends it may be punished). A
// LocalError is this node's fault (the disk is full or failing, the database is corrupt): the
// input may be perfectly valid, so nobody is punished and nothing is marked invalid. The two are
// separate types so no caller can mistake one for the other (docs/adr/0011-local-errors-and-
// mempool-journal.md; STYLE.md "Errors that tell the truth").
#pragma once

#include <string>
#include <variant>

#include "consensus/validation.h"
#include "util/result.h"

namespace peerchain::chain {

// What is wrong with this node's storage. Ordered by severity.
enum class StorageState : uint8_t {
  kOk = 0,
  kDiskFull,      // writes fail for lack of space: block and transfer intake paused, reads served
  kWriteFailing,  // writes fail for another I/O reason: the same
  kCorrupt,       // a stored record failed its checksum or did not decode: the node must stop
};
std::string_view storage_state_token(StorageState s);  // "ok", "disk-full", "write-failing", "corrupt"

struct LocalError {
  StorageState state = StorageState::kWriteFailing;
  std::string message;

  std::string to_string() const { return std::string(storage_state_token(state)) + ": " + message; }
};

class ChainError {
 public:
  ChainError(consensus::Rejection r) : v_(std::move(r)) {}  // NOLINT: implicit, as reject() returns it
  ChainError(LocalError e) : v_(std::move(e)) {}            // NOLINT

  // The input's fault, or nullptr when the fault is local.
  const consensus::Rejection* rejection() const { return std::get_if<consensus::Rejection>(&v_); }
  const LocalError* local() const { return std::get_if<LocalError>(&v_); }
  bool is(consensus::RejectCode c) const { return rejection() && rejection()->code == c; }
  std::string to_string() const {
    if (const auto* r = rejection()) return r->to_string();
    return "local error (not the sender's fault): " + local()->to_string();
  }

 private:
  std::variant<consensus::Rejection, LocalError> v_;
};

template <typename T = void>
using ChainResult = util::Result<T, ChainError>;

inline util::Unexpected<LocalError> local_error(StorageState s, std::string message) {
  return {LocalError{s, std::move(message)}};
}

}  // namespace peerchain::chain
