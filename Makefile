# The two entry points of README.md. Each works alone on a fresh Debian 12 machine: it installs
# what it needs (scripts/install-deps.sh, idempotent), builds, then runs.
#   make demo  - the main job on embedded defaults (vigie dev --once)
#   make test  - every test: unit, compliance and integration (real peers) in release, then the
#                unit tests again under ASan+UBSan (clang-14)

JOBS ?= 2
VIGIE := build/release/src/cli/vigie

.PHONY: demo test deps build build-asan test-release test-asan clean

deps:
	scripts/install-deps.sh

build: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

build-asan: deps
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)

demo: build
	scripts/demo.sh $(VIGIE)

test-release: build
	ctest --preset release -j $(JOBS)

test-asan: build-asan
	ctest --preset asan -j $(JOBS)

# Sequential on purpose: two builds side by side would fight over 2 cores.
test:
	$(MAKE) test-release
	$(MAKE) test-asan

clean:
	rm -rf build/release build/debug build/asan
