// Greedy offset planner: buffers with lifetimes in, arena offsets and total size out.
//
// Algorithm (after TensorFlow Lite Micro's GreedyMemoryPlanner):
//   * buffers are placed largest first (ties: earliest first use, then id);
//   * each goes at the lowest aligned offset where it overlaps no already placed
//     buffer whose lifetime [first_step, last_step] intersects its own;
//   * the arena size is the highest end offset.
//
//   MemoryPlanner p;
//   int a = p.add_buffer(4096, 0, 3);   // bytes, first step, last step (inclusive)
//   int b = p.add_buffer(1024, 2, 5);
//   p.plan();                            // p.offset(a), p.offset(b), p.arena_size()
//   std::cout << p.to_ascii();
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace teeinfer {

class MemoryPlanner {
 public:
  static constexpr size_t kAlignment = 64;

  int add_buffer(size_t bytes, int first_step, int last_step);
  // Widens a buffer's lifetime (used when a later view aliases it).
  void extend_lifetime(int buffer, int step);
  // Enlarges a buffer to at least `bytes` (a shared workspace sized by its largest user).
  void grow(int buffer, size_t bytes);
  void plan();

  size_t offset(int buffer) const { return buffers_.at(buffer).offset; }
  size_t bytes(int buffer) const { return buffers_.at(buffer).bytes; }
  int first_step(int buffer) const { return buffers_.at(buffer).first; }
  int last_step(int buffer) const { return buffers_.at(buffer).last; }
  size_t arena_size() const { return arena_size_; }
  int buffer_count() const { return static_cast<int>(buffers_.size()); }
  // True if two buffers alive at the same step share bytes (a test helper).
  bool has_overlap() const;
  // One line per step: which bytes of the arena are in use (for `plan` output and tests).
  std::string to_ascii(int width = 64) const;

 private:
  struct Buffer {
    size_t bytes;
    int first, last;
    size_t offset = 0;
  };
  std::vector<Buffer> buffers_;
  size_t arena_size_ = 0;
};

}  // namespace teeinfer
