// One-dimensional mean-shift clustering, as the pruning method uses it on BatchNorm
// scale factors |γ|: a flat kernel, seeds from bins of the bandwidth's width, and the
// bandwidth estimated from a quantile of nearest-neighbour distances.
//
// Written by hand because no C++ library here offers it; it follows scikit-learn's
// MeanShift(bin_seeding=True) and estimate_bandwidth step by step, so that the Python
// recipe (tools/prune_fmnist.py, which calls scikit-learn) selects the same channels.
// tests/test_pruning.cpp checks that on committed models.
//
//   double h = estimate_bandwidth(x, 0.1);
//   std::vector<double> centres = mean_shift_centres(x, h);  // highest density first
#pragma once

#include <span>
#include <vector>

namespace teeinfer {

// The mean over points of the distance to their k-th nearest point (the point itself
// included), k = max(1, floor(n * quantile)). Throws kBadArgument for quantile outside (0, 1].
double estimate_bandwidth(std::span<const double> x, double quantile);

// Cluster centres, by number of points within `bandwidth` of them, highest first.
// Empty input gives no centres; a bandwidth <= 0 makes every distinct value a centre.
std::vector<double> mean_shift_centres(std::span<const double> x, double bandwidth);

}  // namespace teeinfer
