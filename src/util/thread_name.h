// util/thread_name.h — names the calling thread (shown by top -H, ps -L, perf and gdb).
#pragma once

#include <pthread.h>

#include <string>

namespace peerchain::util {

// Linux keeps 15 characters; longer names are cut.
inline void set_thread_name(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace peerchain::util
