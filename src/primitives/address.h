// primitives/address.h — account addresses: bech32m (BIP350) of the 32-byte x-only key with a
// network prefix ("pc" main, "pcdev" dev). The checksum catches any single mistyped character
// (and most longer errors), so a mistyped address is refused instead of burning funds.
#pragma once

#include <string>
#include <string_view>

#include "primitives/transaction.h"

namespace peerchain::primitives {

std::string encode_address(std::string_view hrp, const AccountKey& key);
// Refuses a wrong prefix, bad checksum, wrong length, mixed case or a key not on the curve.
util::Result<AccountKey> decode_address(std::string_view hrp, std::string_view address);

}  // namespace peerchain::primitives
