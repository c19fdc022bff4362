#include "enclave/memory_planner.h"

#include <algorithm>
#include <cassert>
#include <numeric>

namespace teeinfer {

static size_t aligned(size_t bytes) {
  return std::max((bytes + MemoryPlanner::kAlignment - 1) / MemoryPlanner::kAlignment * MemoryPlanner::kAlignment,
                  MemoryPlanner::kAlignment);
}

int MemoryPlanner::add_buffer(size_t bytes, int first_step, int last_step) {
  assert(first_step <= last_step);
  buffers_.push_back({aligned(bytes), first_step, last_step});
  return static_cast<int>(buffers_.size() - 1);
}

void MemoryPlanner::grow(int buffer, size_t bytes) {
  Buffer& b = buffers_.at(buffer);
  b.bytes = std::max(b.bytes, aligned(bytes));
}

void MemoryPlanner::extend_lifetime(int buffer, int step) {
  Buffer& b = buffers_.at(buffer);
  b.first = std::min(b.first, step);
  b.last = std::max(b.last, step);
}

void MemoryPlanner::plan() {
  std::vector<int> order(buffers_.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    const Buffer &x = buffers_[a], &y = buffers_[b];
    if (x.bytes != y.bytes) return x.bytes > y.bytes;
    if (x.first != y.first) return x.first < y.first;
    return a < b;
  });
  std::vector<int> placed;
  arena_size_ = 0;
  for (int id : order) {
    Buffer& b = buffers_[id];
    // Live neighbours sorted by offset; slide past each one we collide with.
    std::vector<const Buffer*> live;
    for (int p : placed) {
      const Buffer& o = buffers_[p];
      if (o.first <= b.last && b.first <= o.last) live.push_back(&o);
    }
    std::sort(live.begin(), live.end(), [](const Buffer* x, const Buffer* y) { return x->offset < y->offset; });
    size_t candidate = 0;
    for (const Buffer* o : live) {
      if (candidate + b.bytes <= o->offset) break;
      candidate = std::max(candidate, o->offset + o->bytes);
    }
    b.offset = candidate;
    arena_size_ = std::max(arena_size_, candidate + b.bytes);
    placed.push_back(id);
  }
}

bool MemoryPlanner::has_overlap() const {
  for (size_t i = 0; i < buffers_.size(); ++i)
    for (size_t j = i + 1; j < buffers_.size(); ++j) {
      const Buffer &a = buffers_[i], &b = buffers_[j];
      bool time = a.first <= b.last && b.first <= a.last;
      bool space = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
      if (time && space) return true;
    }
  return false;
}

std::string MemoryPlanner::to_ascii(int width) const {
  int steps = 0, first = 0;
  for (const Buffer& b : buffers_) {
    steps = std::max(steps, b.last + 1);
    first = std::min(first, b.first);
  }
  std::string out;
  double per_col = arena_size_ ? static_cast<double>(arena_size_) / width : 1.0;
  for (int s = first; s < steps; ++s) {
    std::string line(static_cast<size_t>(width), '.');
    for (size_t i = 0; i < buffers_.size(); ++i) {
      const Buffer& b = buffers_[i];
      if (s < b.first || s > b.last) continue;
      int c0 = static_cast<int>(b.offset / per_col), c1 = static_cast<int>((b.offset + b.bytes - 1) / per_col);
      for (int c = c0; c <= c1 && c < width; ++c) line[c] = static_cast<char>('A' + i % 26);
    }
    out += "step " + std::to_string(s) + "\t|" + line + "|\n";
  }
  return out;
}

}  // namespace teeinfer
