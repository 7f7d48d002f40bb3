# Entry points: `make demo`, `make test`, `make bench`. Each installs the Debian packages it
# lacks (scripts/install-deps.sh), configures with CMake into build/, builds and runs.
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build test demo bench format clean

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

bench:
	scripts/install-deps.sh bench
	$(MAKE) --no-print-directory $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)
	scripts/bench.sh $(BUILD)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
