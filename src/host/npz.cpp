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
  std::string bytes = npy_header(a.dims, a.dtype);
  size_t n = byte_size(a.dtype, a.dims, a.name);
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

[[noreturn]] void bad_npz(const std::string& what, const std::string& why) {
  throw Error(ErrorCode::kBadInput, "'" + what + "' is not a valid .npz archive: " + why);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct FileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

}  // namespace

std::vector<std::pair<std::string, std::string>> npz_members(std::string_view archive, const std::string& what) {
  if (archive.empty()) bad_npz(what, "the file is empty");  // libzip would read it as an empty archive
  zip_error_t error;
  zip_error_init(&error);
  // Read-only over the caller's bytes: libzip neither copies nor frees them.
  zip_source_t* src = zip_source_buffer_create(archive.data(), archive.size(), 0, &error);
  if (!src) bad_npz(what, zip_error_strerror(&error));
  std::unique_ptr<zip_t, ZipCloser> zip(zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &error));
  if (!zip) {
    zip_source_free(src);
    bad_npz(what, zip_error_strerror(&error));
  }
  zip_int64_t count = zip_get_num_entries(zip.get(), 0);
  if (count < 0 || static_cast<uint64_t>(count) > kMaxNpzMembers)
    bad_npz(what, "more than " + std::to_string(kMaxNpzMembers) + " members");
  std::vector<std::pair<std::string, std::string>> members;
  std::set<std::string> names;
  uint64_t total = 0;
  for (zip_int64_t i = 0; i < count; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(zip.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
        !(st.valid & ZIP_STAT_SIZE))
      bad_npz(what, "member " + std::to_string(i) + " cannot be read");
    std::string name = st.name;
    if (!ends_with(name, ".npy") || name.size() == 4 || name.find('/') != std::string::npos)
      bad_npz(what, "member '" + name.substr(0, 200) + "' is not NAME.npy");
    name.resize(name.size() - 4);
    if (!names.insert(name).second) bad_npz(what, "'" + name + "' is in it twice");
    if (st.size > kMaxNpzMemberBytes || st.size > kMaxNpzBytes - total)
      bad_npz(what, "'" + name + "' would inflate to " + std::to_string(st.size) + " bytes, over the limit");
    total += st.size;
    std::unique_ptr<zip_file_t, FileCloser> f(zip_fopen_index(zip.get(), static_cast<zip_uint64_t>(i), 0));
    if (!f) bad_npz(what, "'" + name + "': " + zip_strerror(zip.get()));
    std::string bytes(static_cast<size_t>(st.size), '\0');
    zip_int64_t got = bytes.empty() ? 0 : zip_fread(f.get(), bytes.data(), bytes.size());
    char extra;
    if (got != static_cast<zip_int64_t>(bytes.size()) || zip_fread(f.get(), &extra, 1) != 0)
      bad_npz(what, "'" + name + "' does not inflate to the size its directory says (corrupt or truncated)");
    members.emplace_back(name, std::move(bytes));
  }
  return members;
}

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
