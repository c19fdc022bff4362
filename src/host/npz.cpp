#include "host/npz.h"

#include <zip.h>

#include <memory>
#include <set>

#include "common/error.h"
#include "common/tensor.h"
#include "host/file_io.h"
#include "host/npy.h"

namespace teeinfer {
namespace {

[[noreturn]] void zip_failed(const std::string& path, zip_error_t* e) {
  std::string why = zip_error_strerror(e);
  throw Error(ErrorCode::kIo, "cannot build the archive '" + path + "': " + why);
}

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct SourceFreer {
  void operator()(zip_source_t* s) const { zip_source_free(s); }
};

// One member's bytes: the .npy header and the floats, kept alive until the archive is
// written (libzip reads them then).
std::string npy_bytes(const NpzArray& a) {
  std::string bytes = npy_header(a.dims);
  size_t n = static_cast<size_t>(element_count(a.dims, a.name)) * sizeof(float);
  bytes.append(reinterpret_cast<const char*>(a.data), n);
  return bytes;
}

// The archive's bytes, read back from libzip's in-memory source after it wrote them.
std::string archive_bytes(zip_source_t* src, const std::string& path) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_source_stat(src, &st) != 0 || zip_source_open(src) != 0) zip_failed(path, zip_source_error(src));
  std::string out(static_cast<size_t>(st.size), '\0');
  zip_int64_t got = zip_source_read(src, out.data(), out.size());
  zip_source_close(src);
  if (got != static_cast<zip_int64_t>(out.size())) zip_failed(path, zip_source_error(src));
  return out;
}

}  // namespace

void write_npz(const std::string& path, const std::vector<NpzArray>& arrays) {
  std::set<std::string> names;
  for (const NpzArray& a : arrays)
    if (a.name.empty() || a.name.find('/') != std::string::npos || !names.insert(a.name).second)
      throw Error(ErrorCode::kBadArgument,
                  "'" + path + "': the array name '" + a.name + "' cannot be an .npz member (empty, '/' or twice)");
  std::vector<std::string> members;
  members.reserve(arrays.size());  // zip_source_buffer keeps pointers into these
  for (const NpzArray& a : arrays) members.push_back(npy_bytes(a));

  zip_error_t error;
  zip_error_init(&error);
  std::unique_ptr<zip_source_t, SourceFreer> buffer(zip_source_buffer_create(nullptr, 0, 0, &error));
  if (!buffer) zip_failed(path, &error);
  std::unique_ptr<zip_t, ZipCloser> archive(zip_open_from_source(buffer.get(), ZIP_TRUNCATE, &error));
  if (!archive) zip_failed(path, &error);
  zip_source_keep(buffer.get());  // the archive's close would free it; we read it afterwards
  for (size_t i = 0; i < arrays.size(); ++i) {
    zip_source_t* member = zip_source_buffer(archive.get(), members[i].data(), members[i].size(), 0);
    if (!member) zip_failed(path, zip_get_error(archive.get()));
    zip_int64_t index = zip_file_add(archive.get(), (arrays[i].name + ".npy").c_str(), member, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(member);
      zip_failed(path, zip_get_error(archive.get()));
    }
    zip_set_file_compression(archive.get(), static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
  }
  if (zip_close(archive.get()) != 0) zip_failed(path, zip_get_error(archive.get()));
  (void)archive.release();  // closed: nothing to discard
  std::string bytes = archive_bytes(buffer.get(), path);
  AtomicFileWriter file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace teeinfer
