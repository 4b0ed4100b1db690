# peerchain — the two commands: `make demo` and `make test`. Each installs what is missing
# (scripts/install-deps, Debian packages), configures and builds first.
#
#   make build   every program into build/bin/
#   make test    deps + build + every test through CTest (unit, property, functional, design
#                checks), then the clang ASan+UBSan build: unit/property suites and a short run
#                of every libFuzzer target, then the clang TSan build over the threaded code
#   make demo    three local nodes, transfers, a kill -9 and a catch-up (scripts/demo.py)
#   make bench   micro-benchmarks (figures in docs/performance.md)
#   make install PREFIX=DIR   stripped programs, man pages, completion, unit (docs/operations.md)
#   make package the .deb (CPack) in build/

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc)
WERROR     ?= ON
FUZZ_SECONDS ?= 8

PREFIX     ?= /usr/local

.PHONY: all deps configure build test test-release test-asan test-tsan demo bench fuzz clean install package

all: build

deps:
	@scripts/install-deps

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPEERCHAIN_WERROR=$(WERROR) -DPEERCHAIN_TESTS=ON -DPEERCHAIN_BENCH=ON

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: test-release test-asan test-tsan

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

$(ASAN_BUILD)/CMakeCache.txt:
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug \
	  -DPEERCHAIN_WERROR=$(WERROR) -DPEERCHAIN_FUZZ=ON -DPEERCHAIN_FUZZ_SECONDS=$(FUZZ_SECONDS)

test-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -L 'unit|fuzz' --timeout 600

$(TSAN_BUILD)/CMakeCache.txt:
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPEERCHAIN_WERROR=$(WERROR) -DPEERCHAIN_TSAN=ON -DPEERCHAIN_BENCH=OFF

# ThreadSanitizer over the threaded code: the transport, the peer protocol over real chains,
# the chain state and the miner thread.
test-tsan: deps $(TSAN_BUILD)/CMakeCache.txt
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target test_net test_node test_chain
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp \
	  ctest --output-on-failure -j $(JOBS) -L unit -R '^(NetManager|PeerManager|ChainState|Miner|Mempool|ParallelVerify)' --timeout 600

install: build
	cmake --install $(BUILD) --prefix $(PREFIX) --strip

package: build
	cd $(BUILD) && cpack -G DEB

demo: build
	@scripts/demo $(ARGS)

bench: build
	$(BUILD)/bin/bench_peerchain

fuzz: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	@scripts/fuzz-long $(ASAN_BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
