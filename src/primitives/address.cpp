#include "primitives/address.h"

#include "util/bech32.h"

namespace peerchain::primitives {

std::string encode_address(std::string_view hrp, const AccountKey& key) {
  return util::bech32m_encode(hrp, key.span());
}

util::Result<AccountKey> decode_address(std::string_view hrp, std::string_view address) {
  auto dec = util::bech32m_decode(address);
  if (!dec) return util::fail("bad-address", "invalid address '" + std::string(address) + "': " + dec.error().to_string());
  if (dec->first != hrp)
    return util::fail("wrong-network", "address '" + std::string(address) + "' is for network prefix '" +
                                           dec->first + "', expected '" + std::string(hrp) + "'");
  if (dec->second.size() != 32)
    return util::fail("bad-address", "address payload must be 32 bytes, got " + std::to_string(dec->second.size()));
  auto key = AccountKey::from_span(dec->second);
  if (!crypto::is_valid_pubkey(key)) return util::fail("bad-address", "address is not a valid public key");
  return key;
}

}  // namespace peerchain::primitives
