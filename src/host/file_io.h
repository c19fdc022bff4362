// Whole-file reads, and the one way host code writes a file.
//
// Every file teeinfer writes (keys, sealed models, .npy outputs, pruned models) goes
// through AtomicFileWriter: the bytes go to a temporary file with a random name in the
// target's directory, created with O_CREAT | O_EXCL | O_NOFOLLOW (so nothing planted
// there, symlink or file, is ever opened), then fsync'd, renamed over the target, and
// the directory fsync'd. Readers never see half a file. The temporary file is removed on
// every failure path, and on SIGINT / SIGTERM / SIGHUP (then the signal is re-raised).
//
// The target itself: rename() replaces whatever is at the path. A symlink planted at the
// target is replaced by the new file, never followed, so the write cannot land elsewhere.
//
//   AtomicFileWriter out("model.tee");          // 0666 minus the umask (0644 usually)
//   out.write(header.data(), header.size());    // streamed: nothing is held in memory
//   out.commit();                               // without commit: the temp file is removed
//   write_file_atomic("k.bin", key_bytes, FileAccess::kOwnerOnly, Overwrite::kNever);
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace teeinfer {

// Throws Error(kIo) naming the path.
std::string read_file(const std::string& path);

enum class FileAccess {
  kShared,     // mode 0666 minus the umask, like any file a program creates
  kOwnerOnly,  // mode 0600 (minus the umask): secrets
};

enum class Overwrite {
  kReplace,  // an existing file at the target is replaced
  kNever,    // the commit fails (Error kIo) if anything exists at the target, atomically
};

class AtomicFileWriter {
 public:
  // Creates the temporary file; throws Error(kIo) naming `path`.
  explicit AtomicFileWriter(std::string path, FileAccess access = FileAccess::kShared);
  ~AtomicFileWriter();  // not committed: the temporary file is removed
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t n);  // throws Error(kIo); small writes are buffered
  // fsync, rename over the target, fsync the directory. Throws Error(kIo); the
  // temporary file is gone either way.
  void commit(Overwrite overwrite = Overwrite::kReplace);
  // Removes the temporary file now (what the destructor does if commit was not called).
  void abandon() noexcept;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }

 private:
  void flush_buffer();
  void write_fully(const char* p, size_t n);

  std::string path_, temp_;
  int fd_ = -1;
  int slot_ = -1;  // in the registry of temporary files removed on SIGINT / SIGTERM
  std::vector<char> buffer_;
};

// One AtomicFileWriter for bytes in memory.
void write_file_atomic(const std::string& path, std::string_view bytes, FileAccess access = FileAccess::kShared,
                       Overwrite overwrite = Overwrite::kReplace);

// True when both paths name an existing file that is the same one (device and inode, so
// hard links and symlinks count), or when they resolve to the same canonical path.
bool same_file(const std::string& a, const std::string& b);

// Refuses (Error kBadArgument) to write `output` onto any of `inputs` (path, what it is):
// the same file by device and inode, or the same canonical path. `option` names the output.
void refuse_output_onto_inputs(const std::string& output, const std::string& option,
                               const std::vector<std::pair<std::string, std::string>>& inputs);

}  // namespace teeinfer
