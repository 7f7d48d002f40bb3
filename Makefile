# Entry points: `make demo`, `make test`, `make bench`. Each installs the Debian packages it
# lacks (scripts/install-deps.sh), configures with CMake into build/ (bench: a Release tree in
# build-bench/), builds and runs.
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?=
BENCH_BUILD ?= build-bench
BENCH_TARGETS = cnimux cnimux-ipam cnimux-ipam-bench-fill cnimux-bench-meta

.PHONY: all build test demo bench format format-check clean

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
	cd $(BUILD) && ctest --output-on-failure --timeout 600

# The demo needs only the two binaries it installs, so it does not wait for the tests to build.
demo:
	scripts/install-deps.sh demo
	$(MAKE) --no-print-directory $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target cnimux cnimux-ipam
	scripts/demo.sh $(BUILD)

# Benchmarks measure what ships: a separate Release tree, only the binaries they run.
bench:
	scripts/install-deps.sh bench
	cmake -S . -B $(BENCH_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BENCH_BUILD) -j $(JOBS) --target $(BENCH_TARGETS)
	scripts/bench.sh $(BENCH_BUILD)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

format-check:
	scripts/install-deps.sh test
	scripts/check_format.sh

clean:
	rm -rf $(BUILD) $(BENCH_BUILD)
