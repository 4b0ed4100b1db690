// util/bech32.h — bech32m (BIP350) strings carrying arbitrary byte payloads.
//
// A string is hrp || '1' || data || checksum, where the human-readable part (hrp) is 1 to 83
// characters in [33, 126], data and the 6-character checksum use the 32-character alphabet
// "qpzry9x8gf2tvdw0s3jn54khce6mua7l", and the whole string is at most 90 characters. The
// checksum detects any error of up to 4 substituted characters. Only the bech32m constant
// (0x2bc830a3) is accepted: a BIP173 bech32 checksum is refused.
//
// Error codes (Error::code) returned by the decoders:
//   "bad-length"    longer than 90 characters, or fewer than 6 characters after the separator
//   "bad-char"      a character outside [33, 126], or a data character outside the alphabet
//   "mixed-case"    both upper- and lower-case letters (all upper case is accepted)
//   "no-separator"  no '1' in the string
//   "bad-hrp"       empty human-readable part
//   "bad-checksum"  the checksum does not verify as bech32m (including a valid bech32 one)
//   "bad-padding"   (bech32m_decode only) the 5-bit data is not a canonical encoding of whole
//                   bytes: more than 4 padding bits, or padding bits that are not zero
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "util/bytes.h"
#include "util/result.h"

namespace peerchain::util {

inline constexpr size_t kBech32MaxLength = 90;

// True iff `hrp` is a valid lower-case human-readable part: 1..83 characters in [33, 126],
// none of them upper case.
bool bech32_hrp_valid(std::string_view hrp);

// The bech32m string of `hrp` and the bytes `data` (regrouped into 5-bit values, the last one
// zero-padded). Output is lower case.
// REQUIRES: bech32_hrp_valid(hrp) and the result fits in 90 characters, i.e.
//           hrp.size() + 1 + ceil(data.size() * 8 / 5) + 6 <= 90 (32 bytes: hrp of <= 31).
std::string bech32m_encode(std::string_view hrp, ByteSpan data);

// The hrp (lower-cased) and the payload bytes of a bech32m string; errors as listed above.
Result<std::pair<std::string, Bytes>> bech32m_decode(std::string_view s);

// Lower level: the same encoding over raw 5-bit values (each < 32), with no 8<->5 regrouping.
// REQUIRES: as bech32m_encode, with values.size() in place of ceil(data.size() * 8 / 5), and
//           every value < 32.
std::string bech32m_encode_5bit(std::string_view hrp, ByteSpan values);
// The hrp (lower-cased) and the 5-bit values (checksum excluded) of a bech32m string.
Result<std::pair<std::string, Bytes>> bech32m_decode_5bit(std::string_view s);

}  // namespace peerchain::util
