// Which run sizes a model's batches use, from what one run of each size measured: a
// larger batch pays only when it is faster per sample. In a small EPC it often is not
// (a batch's activations are larger, so more of them spill and more convolutions run in
// bands: ResNet-18 in 16 MiB takes 44 ms for one image and about a second for four), while
// a model whose time goes to decrypting streamed weights gains almost linearly (AlexNet).
// Pure functions: tests feed them timings.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace teeinfer::serve {

// The sizes worth running, ascending: the smallest always, then each size whose time per
// sample is below 0.95 x the best per-sample time of the sizes kept before it. Sizes with
// no timing are kept (nothing says they are slower).
std::vector<int64_t> preferred_run_sizes(const std::vector<int64_t>& sizes,
                                         const std::map<int64_t, double>& ms_per_run);

// The preferred sizes whose sessions fit the share together (0: no limit), so that
// batches never evict one session to make another (each make plans and decrypts the
// resident weights: sizes alternating under load would do it at every batch). When they
// do not all fit, the set starts from the smallest size, unless the fastest per sample is
// at least twice as fast (then from that one: AlexNet in a small EPC, where a batch of 8
// decrypts its streamed weights once for eight images), and adds sizes while they fit.
std::vector<int64_t> sizes_that_fit(const std::vector<int64_t>& preferred, const std::map<int64_t, double>& ms_per_run,
                                    const std::map<int64_t, uint64_t>& arena_bytes, uint64_t share_bytes);

// The run size for `available` queued samples: the largest preferred size that they fill,
// or the next larger one (padded with zero samples) when that costs less per real sample
// by the timings (without timings: the next larger one, so one run serves them all).
int64_t target_run_size(int64_t available, const std::vector<int64_t>& preferred,
                        const std::map<int64_t, double>& ms_per_run);

}  // namespace teeinfer::serve
