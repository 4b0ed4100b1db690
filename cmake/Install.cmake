# Installing peerchain (`cmake --install build --strip`, `make install PREFIX=...`) and the .deb
# (`make package`, CPack). Layout under the prefix:
#   bin/                         peerchaind, peerchain-cli, peerchain-ledger, peerchain-bench
#   libexec/peerchain/           the seed's `server` and `client` (names too generic for bin/)
#   share/man/man1/              man pages generated from each program's --help (help2man)
#   share/bash-completion/completions/   completion read from each program's --help
#   share/doc/peerchain/         README, docs, peerchain.toml.example
#   lib/systemd/system/          peerchaind.service (hardened; docs/operations.md)
# The .deb installs to /usr; its postinst creates the peerchain user and
# /etc/peerchain/peerchain.toml from the example, and its purge removes both and the state.
include(GNUInstallDirs)

set(PEERCHAIN_PROGRAMS peerchaind peerchain-cli peerchain-ledger)
install(TARGETS ${PEERCHAIN_PROGRAMS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET peerchain-bench)
  install(TARGETS peerchain-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(TARGETS server client RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/peerchain)

# Man pages from the programs' own --help and --version, so they never drift from them.
find_program(HELP2MAN help2man)
if(HELP2MAN AND NOT PEERCHAIN_FUZZ AND NOT PEERCHAIN_TSAN AND NOT PEERCHAIN_SANITIZE)
  set(PEERCHAIN_MAN_PAGES)
  foreach(prog ${PEERCHAIN_PROGRAMS})
    set(page ${CMAKE_BINARY_DIR}/man/${prog}.1)
    if(prog STREQUAL "peerchaind")
      set(summary "a peerchain node: proof-of-work chain, peer network and client API on one port")
    elseif(prog STREQUAL "peerchain-cli")
      set(summary "keys, signed transfers, queries and local test networks for peerchain")
    else()
      set(summary "the peerchain ledger without the network (verify, reindex, print)")
    endif()
    add_custom_command(OUTPUT ${page}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND ${HELP2MAN} --no-info --no-discard-stderr --name=${summary} --output=${page} $<TARGET_FILE:${prog}>
      DEPENDS ${prog}
      COMMENT "man page ${prog}.1 from ${prog} --help"
      VERBATIM)
    list(APPEND PEERCHAIN_MAN_PAGES ${page})
  endforeach()
  add_custom_target(peerchain_man_pages ALL DEPENDS ${PEERCHAIN_MAN_PAGES})
  install(FILES ${PEERCHAIN_MAN_PAGES} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
elseif(NOT HELP2MAN)
  message(STATUS "help2man not found: no man pages (scripts/install-deps installs it)")
endif()

foreach(prog ${PEERCHAIN_PROGRAMS})
  install(FILES packaging/completion/peerchain.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
          RENAME ${prog})
endforeach()
install(FILES README.md packaging/peerchain.toml.example DESTINATION ${CMAKE_INSTALL_DOCDIR})
# The programs link libsecp256k1 in (third_party/secp256k1): its MIT licence goes with them.
install(FILES third_party/secp256k1/COPYING DESTINATION ${CMAKE_INSTALL_DOCDIR}/third_party/secp256k1)
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
install(FILES packaging/systemd/peerchaind.service DESTINATION lib/systemd/system)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME peerchain)
set(CPACK_PACKAGE_VENDOR "peerchain")
set(CPACK_PACKAGE_CONTACT "peerchain developers <peerchain@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "peer-to-peer proof-of-work blockchain node, client and tools")
set(CPACK_PACKAGE_DESCRIPTION "peerchaind keeps a full copy of the chain on disk and agrees on one chain with its peers by Nakamoto proof of work; peerchain-cli holds keys, signs transfers and queries any node.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/deb/postinst ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
    ${PROJECT_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
