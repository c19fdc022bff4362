#include "enclave/memory_planner.h"

#include <algorithm>
#include <cassert>
#include <climits>
#include <map>
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

namespace {

struct Placed {
  size_t offset, end;
  int first, last;
};

// The placed buffers a new one may collide with, found without walking all of them.
// Buffers alive for the whole run (resident weights) collide with everything: adjacent
// ones merge into one segment, so thousands of weights are a handful of entries. The
// others are indexed by lifetime: those alive at step a are found by a stabbing query on
// a segment tree over the steps, those born in (a, b] in per-step lists, so a buffer
// alive over [a, b] gathers exactly the ones it overlaps in time.
class PlacedIndex {
 public:
  PlacedIndex(int first_step, int last_step)
      : base_(first_step), steps_(static_cast<size_t>(last_step - first_step + 1)), tree_(4 * steps_), born_(steps_) {}

  bool whole_run(int first, int last) const { return first == base_ && last == base_ + static_cast<int>(steps_) - 1; }

  void add(const Placed& p) {
    add_to_union(p.offset, p.end);
    if (whole_run(p.first, p.last)) return add_segment(p);
    int id = static_cast<int>(placed_.size());
    placed_.push_back(p);
    insert(1, 0, steps_ - 1, idx(p.first), idx(p.last), id);
    born_[idx(p.first)].push_back(id);
  }

  // The lowest offset where `bytes` collide with nothing placed: for a whole-run buffer,
  // which is alive with every other one (a walk over the union of all placed bytes).
  size_t lowest_free(size_t bytes) const {
    size_t candidate = 0;
    for (auto [start, end] : union_) {
      if (candidate + bytes <= start) break;
      candidate = std::max(candidate, end);
    }
    return candidate;
  }

  // The placed buffers alive at some step of [first, last], and the whole-run segments,
  // sorted by offset.
  void gather(int first, int last, std::vector<Placed>& out) const {
    out.clear();
    out.insert(out.end(), segments_.begin(), segments_.end());
    stab(1, 0, steps_ - 1, idx(first), out);
    for (size_t s = idx(first) + 1; s <= idx(last); ++s)
      for (int id : born_[s]) out.push_back(placed_[static_cast<size_t>(id)]);
    std::sort(out.begin(), out.end(), [](const Placed& x, const Placed& y) { return x.offset < y.offset; });
  }

 private:
  size_t idx(int step) const { return static_cast<size_t>(step - base_); }

  void add_to_union(size_t start, size_t end) {
    auto it = union_.upper_bound(start);
    if (it != union_.begin() && std::prev(it)->second >= start) {
      it = std::prev(it);
      start = it->first;
      end = std::max(end, it->second);
      it = union_.erase(it);
    }
    while (it != union_.end() && it->first <= end) {
      end = std::max(end, it->second);
      it = union_.erase(it);
    }
    union_.emplace(start, end);
  }

  void add_segment(const Placed& p) {
    auto at = std::upper_bound(segments_.begin(), segments_.end(), p.offset,
                               [](size_t off, const Placed& x) { return off < x.offset; });
    if (at != segments_.begin() && std::prev(at)->end == p.offset) {
      std::prev(at)->end = p.end;
      if (at != segments_.end() && at->offset == p.end) {
        std::prev(at)->end = at->end;
        segments_.erase(at);
      }
    } else if (at != segments_.end() && at->offset == p.end) {
      at->offset = p.offset;
    } else {
      segments_.insert(at, p);
    }
  }
  void insert(size_t node, size_t lo, size_t hi, size_t a, size_t b, int id) {
    if (b < lo || hi < a) return;
    if (a <= lo && hi <= b) {
      tree_[node].push_back(id);
      return;
    }
    size_t mid = lo + (hi - lo) / 2;
    insert(2 * node, lo, mid, a, b, id);
    insert(2 * node + 1, mid + 1, hi, a, b, id);
  }
  void stab(size_t node, size_t lo, size_t hi, size_t at, std::vector<Placed>& out) const {
    for (int id : tree_[node]) out.push_back(placed_[static_cast<size_t>(id)]);
    if (lo == hi) return;
    size_t mid = lo + (hi - lo) / 2;
    if (at <= mid)
      stab(2 * node, lo, mid, at, out);
    else
      stab(2 * node + 1, mid + 1, hi, at, out);
  }

  int base_;
  size_t steps_;
  std::vector<Placed> placed_, segments_;
  std::vector<std::vector<int>> tree_, born_;
  std::map<size_t, size_t> union_;  // every placed byte range, merged: start -> end
};

}  // namespace

void MemoryPlanner::plan() {
  std::vector<int> order(buffers_.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    const Buffer &x = buffers_[a], &y = buffers_[b];
    if (x.bytes != y.bytes) return x.bytes > y.bytes;
    if (x.first != y.first) return x.first < y.first;
    return a < b;
  });
  arena_size_ = 0;
  if (buffers_.empty()) return;
  int run_first = INT_MAX, run_last = INT_MIN;
  for (const Buffer& b : buffers_) {
    run_first = std::min(run_first, b.first);
    run_last = std::max(run_last, b.last);
  }
  PlacedIndex placed(run_first, run_last);
  std::vector<Placed> live;
  for (int id : order) {
    Buffer& b = buffers_[id];
    // The buffers alive with it, by offset: slide past each one it would collide with.
    size_t candidate = 0;
    if (placed.whole_run(b.first, b.last)) {
      candidate = placed.lowest_free(b.bytes);
    } else {
      placed.gather(b.first, b.last, live);
      for (const Placed& o : live) {
        if (candidate + b.bytes <= o.offset) break;
        candidate = std::max(candidate, o.end);
      }
    }
    b.offset = candidate;
    arena_size_ = std::max(arena_size_, candidate + b.bytes);
    placed.add({candidate, candidate + b.bytes, b.first, b.last});
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
