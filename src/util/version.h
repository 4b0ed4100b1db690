// util/version.h — what a binary is: the project version, the git commit it was built from
// ("-dirty" when the checkout had uncommitted changes, "unknown" outside a git checkout) and the
// CMake build type. Every program's --version prints them; the API and /metrics report them.
// Defined in a source generated at build time (cmake/Version.cmake).
#pragma once

#include <string>
#include <string_view>

namespace peerchain::util {

std::string_view version();     // "0.1.0"
std::string_view git_commit();  // "1a2b3c4d5e6f", "1a2b3c4d5e6f-dirty" or "unknown"
std::string_view build_type();  // "RelWithDebInfo", "Debug", ...

// "PROGRAM 0.1.0 (commit 1a2b3c4d5e6f, RelWithDebInfo)": the --version line.
inline std::string version_line(std::string_view program) {
  return std::string(program) + " " + std::string(version()) + " (commit " + std::string(git_commit()) + ", " +
         std::string(build_type()) + ")";
}

}  // namespace peerchain::util
