// apps/flags.h — strict numbers on every program's command line (docs/design/limits.md,
// "Command-line flags and config files").
//
// CLI11 converts integers with base 0 (so "0x10" is 16 and "010" is 8) and lets "nan", "inf"
// and out-of-range text through its Range checks (NaN compares false with everything). A flag
// a person mistypes must be refused with one line and exit 2, not turned into a surprising
// value or an overflow later (--ban-seconds times 1000, a clock offset added to the time).
//
// strict_numbers(app) walks every option of `app` and its subcommands and adds, to each one
// whose value type is a number, a check that the text is plain decimal: an optional '-', digits
// without a leading zero, and for floating-point options a fraction and exponent, finite and
// representable. The meaning of each flag (its range) stays with the flag, as a CLI::Range or
// one of the helpers below. Call it once, after every option is added, before parse().
#pragma once

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <system_error>

namespace peerchain::apps {

// "" when `s` is a plain decimal integer without a leading '+' or leading zeros that fits in
// int64/uint64, else the reason.
inline std::string check_decimal_integer(const std::string& s) {
  std::string_view v = s;
  if (!v.empty() && v.front() == '-') v.remove_prefix(1);
  if (v.empty() || v.find_first_not_of("0123456789") != std::string_view::npos)
    return "'" + s + "' is not a decimal integer";
  if (v.size() > 1 && v.front() == '0') return "'" + s + "' has a leading zero (numbers are decimal)";
  if (s.front() == '-') {
    int64_t x = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), x);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return "'" + s + "' is out of range";
  } else {
    uint64_t x = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), x);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return "'" + s + "' is out of range";
  }
  return {};
}

// "" when `s` is a finite decimal number ("12", "0.5", "2.5e4"), else the reason. No hex
// floats, no "nan" or "inf", nothing that overflows a double.
inline std::string check_finite_number(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789.eE+-") != std::string::npos)
    return "'" + s + "' is not a decimal number";
  double x = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), x, std::chars_format::general);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(x))
    return "'" + s + "' is not a finite decimal number";
  return {};
}

inline void strict_numbers(CLI::App& app) {
  for (CLI::Option* opt : app.get_options()) {
    const std::string type = opt->get_type_name();
    if (type.rfind("INT", 0) == 0 || type.rfind("UINT", 0) == 0) {
      opt->check(CLI::Validator([](std::string& s) { return check_decimal_integer(s); }, "", "decimal"));
    } else if (type.rfind("FLOAT", 0) == 0) {
      opt->check(CLI::Validator([](std::string& s) { return check_finite_number(s); }, "", "finite"));
    }
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) strict_numbers(*sub);
}

}  // namespace peerchain::apps
