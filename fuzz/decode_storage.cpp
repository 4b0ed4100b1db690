// Fuzz: the decoders of every stored record (a corrupt database must be reported, never
// trusted): index records, undo data, tx locations, accounts.
#include <cstdlib>

#include "primitives/account.h"
#include "storage/schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace peerchain;
  util::ByteSpan in(data, size);
  if (auto r = storage::decode_index_record(in)) {
    auto again = storage::encode_index_record(*r);
    if (again != util::Bytes(data, data + size)) std::abort();
  }
  if (auto u = storage::decode_undo(in)) {
    auto again = storage::encode_undo(*u);
    if (again != util::Bytes(data, data + size)) std::abort();
  }
  if (auto l = storage::decode_tx_location(in)) {
    if (storage::encode_tx_location(*l) != util::Bytes(data, data + size)) std::abort();
  }
  if (auto a = primitives::decode_account(in)) {
    if (primitives::encode_account(*a) != util::Bytes(data, data + size)) std::abort();
  }
  return 0;
}
