# Entry points: `make demo`, `make test`, `make bench`, `make fuzz`, `make soak`. Each installs
# the Debian packages it lacks (scripts/install-deps.sh), configures with CMake into build/
# (bench: a Release tree in build-bench/; fuzz: a clang tree in build-fuzz/), builds and runs.
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?=
BENCH_BUILD ?= build-bench
BENCH_TARGETS = cnimux cnimux-ipam cnimux-ipam-bench-fill cnimux-ipam-bench-alloc cnimux-bench-meta cnimux-bench-floor cnimux-bench-instant
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
SOAK_TRIALS ?= 1000
FAULTS_TRIALS ?= 500

.PHONY: all build test demo bench fuzz soak test-sanitize format format-check clean

all: build

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build:
	scripts/install-deps.sh build
	$(MAKE) --no-print-directory $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test:
	scripts/install-deps.sh test
	$(MAKE) --no-print-directory $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)
	scripts/sweep_test_netns.sh
	cd $(BUILD) && ctest --output-on-failure --timeout 600; rc=$$?; cd - >/dev/null; \
	  scripts/sweep_test_netns.sh; exit $$rc

# The demo builds only the binaries it runs (cnimuxctl, the plugins, the simulated SR-IOV NIC),
# so it does not wait for the tests to build.
DEMO_TARGETS = cnimuxctl cnimux cnimux-ipam cnimux-sriov
demo:
	scripts/install-deps.sh demo
	$(MAKE) --no-print-directory $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target $(DEMO_TARGETS)
	scripts/demo.sh $(BUILD)

# Benchmarks measure what ships: a separate Release tree, only the binaries they run.
bench:
	scripts/install-deps.sh bench
	cmake -S . -B $(BENCH_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BENCH_BUILD) -j $(JOBS) --target $(BENCH_TARGETS)
	scripts/bench.sh $(BENCH_BUILD)

# libFuzzer: a separate clang tree (ASan + UBSan), only the fuzz targets, each run for
# FUZZ_SECONDS; prints executions, CPU-seconds and crashes per target (docs/reliability.md).
fuzz:
	scripts/install-deps.sh fuzz
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DCNIMUX_FUZZ=ON -DCNIMUX_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target cnimux-fuzz-targets
	test/fuzz/run.py $(FUZZ_BUILD) $(FUZZ_SECONDS)

# kill -9 at every instant: SOAK_TRIALS trials; the fault campaign: FAULTS_TRIALS trials
# (SOAK_SEED replays one run of either); needs root. docs/reliability.md has the tables.
soak:
	scripts/install-deps.sh demo
	$(MAKE) --no-print-directory $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target cnimux cnimux-ipam cnimux-fake-delegate
	SOAK_TRIALS=$(SOAK_TRIALS) test/soak/kill9.py --build $(BUILD)
	SOAK_TRIALS=$(FAULTS_TRIALS) test/soak/faults.py --build $(BUILD)
	scripts/install-deps.sh test && test/soak/ipam_etcd_soak.sh $(BUILD)  # etcd IPAM: 16 x 200, no owner twice

# Sanitizers: ASan + LSan + UBSan (gcc, -fno-sanitize-recover=all) in build-sanitize/, only
# the targets `cnimux-sanitize-tests` needs: the unit tests, the fuzz replays and the e2e subset
# named in cmake/sanitize.cmake, with every binary they execute built sanitized too. -O1 and
# line tables only (-g1) keep the cold build short; asserts stay on (no NDEBUG). Each sanitized
# process writes its reports under build-sanitize/sanitizer-logs/, so a report from a process a
# test did not watch (a delegate, a DEL's child) still fails the run. docs/reliability.md.
SANITIZE_BUILD ?= build-sanitize
SANITIZE_FLAGS = -O0 -g1
# What makes a log file a finding; anything else there (LSan unable to stop a thread that a
# test SIGKILLs mid-exit) is printed as a note.
SANITIZER_REPORT = ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: |Sanitizer CHECK failed
test-sanitize:
	scripts/install-deps.sh sanitize
	cmake -S . -B $(SANITIZE_BUILD) -G Ninja -DCNIMUX_SANITIZE=ON -DCMAKE_BUILD_TYPE=Sanitize \
	  -DCMAKE_C_FLAGS_SANITIZE="$(SANITIZE_FLAGS)" -DCMAKE_CXX_FLAGS_SANITIZE="$(SANITIZE_FLAGS)" \
	  $(CMAKE_FLAGS)
	cmake --build $(SANITIZE_BUILD) -j $(JOBS) --target cnimux-sanitize-tests
	rm -rf $(SANITIZE_BUILD)/sanitizer-logs && mkdir -p $(SANITIZE_BUILD)/sanitizer-logs
	ctest --test-dir $(SANITIZE_BUILD) -L sanitize --output-on-failure; status=$$?; \
	  logs=$(SANITIZE_BUILD)/sanitizer-logs; \
	  notes=$$(grep -LrE "$(SANITIZER_REPORT)" $$logs); \
	  if [ -n "$$notes" ]; then echo "sanitizer notes (not reports):"; head -n 5 $$notes; fi; \
	  reports=$$(grep -lrE "$(SANITIZER_REPORT)" $$logs); \
	  if [ -n "$$reports" ]; then head -n 80 $$reports; echo "sanitizer reports: $$reports" >&2; exit 1; fi; \
	  exit $$status

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

format-check:
	scripts/install-deps.sh test
	scripts/check_format.sh

clean:
	rm -rf $(BUILD) $(BENCH_BUILD) $(FUZZ_BUILD) $(SANITIZE_BUILD)
