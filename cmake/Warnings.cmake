function(peerchain_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
    -Wno-sign-conversion -Wnon-virtual-dtor -Wimplicit-fallthrough)
  if(PEERCHAIN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
