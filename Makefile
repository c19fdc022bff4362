# teeinfer: the two commands a newcomer runs are `make demo` and `make test`.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: demo test deps deps-build build asan fuzz format format-check bench bench-sealed bench-cliff models clean

# Install what the build needs (apt), build, and run the bundled Fashion-MNIST model.
demo: build
	@echo "== one image (models/sample_0_ankle_boot.png) =="
	$(BUILD)/teeinfer run models/fmnist_vgg.onnx --input models/sample_0_ankle_boot.png --class-names models/fashion_mnist_classes.txt
	@echo "== the Fashion-MNIST test set (10,000 images, 1 thread) =="
	$(BUILD)/teeinfer eval models/fmnist_vgg.onnx

# Build and run the whole test suite (ctest prints the summary; non-zero exit on failure),
# then the same suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	$(MAKE) asan
	$(MAKE) fuzz

deps:
	bash tools/install-deps.sh all

deps-build:
	bash tools/install-deps.sh build

build: deps-build
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps-build
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTEEINFER_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure -j$(JOBS)

# Every libFuzzer target (clang-14, ASan+UBSan), FUZZ_SECONDS each, two at a time;
# `make fuzz FUZZ_SECONDS=600` for a long run.
fuzz: deps-build
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DTEEINFER_FUZZ=ON -DTEEINFER_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	cd $(FUZZ_BUILD) && ctest --output-on-failure -j$(JOBS)

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
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
