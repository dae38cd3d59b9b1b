#include "testing/fault_sqlite_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vigie::testing {

namespace {

// One write or truncation not yet made durable by a sync: what to put back at a crash.
struct Undo {
  int64_t offset = 0;
  std::vector<uint8_t> old_bytes;  // content of [offset, offset + size) before the change
  int64_t old_size = 0;            // file size before the change
};

// The file object SQLite allocates (szOsFile bytes): our header, then the wrapped file.
struct FaultFile {
  sqlite3_file base;  // base.pMethods = &kIoMethods
  FaultSqliteVfs::Impl* impl;
  char* path;  // malloc'd full path; null for temporary files
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

}  // namespace

struct FaultSqliteVfs::Impl {
  sqlite3_vfs vfs{};  // the registered VFS; pAppData points to this Impl
  sqlite3_vfs* real = nullptr;
  std::string name;

  mutable std::mutex mu;
  int steps = 0;                                  // GUARDED_BY(mu)
  int crash_at = 0;                               // absolute step; 0 = never. GUARDED_BY(mu)
  bool crashed = false;                           // GUARDED_BY(mu)
  std::map<std::string, std::vector<Undo>> undo;  // per path, since its last sync. GUARDED_BY(mu)
  // Descriptors used to apply undo logs, kept open until destruction: closing a descriptor of a
  // file drops every POSIX lock the process holds on it, including SQLite's.
  std::vector<int> undo_fds;  // GUARDED_BY(mu)

  // Counts one mutating step; returns false when the step must be dropped (crash now or before).
  // REQUIRES: mu held.
  bool Step() {
    if (crashed) return false;
    ++steps;
    if (crash_at != 0 && steps >= crash_at) {
      crashed = true;
      ApplyUndo();
      return false;
    }
    return true;
  }

  // The power cut: every file goes back to its last synced state. REQUIRES: mu held.
  void ApplyUndo() {
    for (auto& [path, log] : undo) {
      if (log.empty()) continue;
      int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) continue;  // deleted since: nothing to restore
      undo_fds.push_back(fd);
      for (auto it = log.rbegin(); it != log.rend(); ++it) {
        if (!it->old_bytes.empty()) {
          (void)!::pwrite(fd, it->old_bytes.data(), it->old_bytes.size(), it->offset);
        }
        (void)!::ftruncate(fd, it->old_size);
      }
    }
    undo.clear();
  }

  // Records how to undo a change of [offset, offset + amount) of `f`. REQUIRES: mu held.
  void Record(FaultFile* f, int64_t offset, int64_t amount) {
    Undo u;
    u.offset = offset;
    sqlite3_int64 size = 0;
    if (f->real()->pMethods->xFileSize(f->real(), &size) != SQLITE_OK) size = 0;
    u.old_size = size;
    int64_t end = std::min<int64_t>(offset + amount, size);
    if (end > offset) {
      u.old_bytes.resize(end - offset);
      (void)f->real()->pMethods->xRead(f->real(), u.old_bytes.data(),
                                       static_cast<int>(u.old_bytes.size()), offset);
    }
    undo[f->path].push_back(std::move(u));
  }
};

namespace {

FaultFile* Ff(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f); }
sqlite3_file* Real(sqlite3_file* f) { return Ff(f)->real(); }
FaultSqliteVfs::Impl* ImplOf(sqlite3_vfs* v) {
  return static_cast<FaultSqliteVfs::Impl*>(v->pAppData);
}

int FClose(sqlite3_file* f) {
  int rc = Real(f)->pMethods ? Real(f)->pMethods->xClose(Real(f)) : SQLITE_OK;
  std::free(Ff(f)->path);
  Ff(f)->path = nullptr;
  return rc;
}
int FRead(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  return Real(f)->pMethods->xRead(Real(f), buf, amt, off);
}
int FWrite(sqlite3_file* f, const void* buf, int amt, sqlite3_int64 off) {
  FaultFile* ff = Ff(f);
  if (!ff->path) return Real(f)->pMethods->xWrite(Real(f), buf, amt, off);
  std::lock_guard<std::mutex> lock(ff->impl->mu);
  if (!ff->impl->Step()) return SQLITE_OK;
  ff->impl->Record(ff, off, amt);
  return Real(f)->pMethods->xWrite(Real(f), buf, amt, off);
}
int FTruncate(sqlite3_file* f, sqlite3_int64 size) {
  FaultFile* ff = Ff(f);
  if (!ff->path) return Real(f)->pMethods->xTruncate(Real(f), size);
  std::lock_guard<std::mutex> lock(ff->impl->mu);
  if (!ff->impl->Step()) return SQLITE_OK;
  sqlite3_int64 cur = 0;
  (void)Real(f)->pMethods->xFileSize(Real(f), &cur);
  if (cur > size) ff->impl->Record(ff, size, cur - size);
  return Real(f)->pMethods->xTruncate(Real(f), size);
}
int FSync(sqlite3_file* f, int flags) {
  FaultFile* ff = Ff(f);
  if (!ff->path) return SQLITE_OK;
  std::lock_guard<std::mutex> lock(ff->impl->mu);
  if (!ff->impl->Step()) return SQLITE_OK;
  // Durable from now on. The real fsync is skipped: durability is what the undo log simulates.
  ff->impl->undo.erase(ff->path);
  return SQLITE_OK;
}
int FFileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int FLock(sqlite3_file* f, int l) { return Real(f)->pMethods->xLock(Real(f), l); }
int FUnlock(sqlite3_file* f, int l) { return Real(f)->pMethods->xUnlock(Real(f), l); }
int FCheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int FFileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int FSectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int FDeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int FShmMap(sqlite3_file* f, int pg, int pgsz, int extend, void volatile** pp) {
  return Real(f)->pMethods->xShmMap(Real(f), pg, pgsz, extend, pp);
}
int FShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void FShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int FShmUnmap(sqlite3_file* f, int delete_flag) {
  return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag);
}

// Version 2: shared memory (WAL) but no xFetch, so SQLite never reads pages through mmap.
const sqlite3_io_methods kIoMethods = {
    2,
    FClose,
    FRead,
    FWrite,
    FTruncate,
    FSync,
    FFileSize,
    FLock,
    FUnlock,
    FCheckReservedLock,
    FFileControl,
    FSectorSize,
    FDeviceCharacteristics,
    FShmMap,
    FShmLock,
    FShmBarrier,
    FShmUnmap,
    nullptr,
    nullptr,
};

int VOpen(sqlite3_vfs* v, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  FaultSqliteVfs::Impl* impl = ImplOf(v);
  FaultFile* ff = Ff(f);
  ff->base.pMethods = nullptr;
  ff->impl = impl;
  ff->path = name ? strdup(name) : nullptr;
  int rc = impl->real->xOpen(impl->real, name, ff->real(), flags, out_flags);
  if (rc != SQLITE_OK) {
    std::free(ff->path);
    ff->path = nullptr;
    // SQLite calls xClose when pMethods is set even if xOpen failed; keep ours unset unless the
    // real file is open.
    return rc;
  }
  ff->base.pMethods = &kIoMethods;
  return rc;
}
int VDelete(sqlite3_vfs* v, const char* name, int sync_dir) {
  FaultSqliteVfs::Impl* impl = ImplOf(v);
  std::lock_guard<std::mutex> lock(impl->mu);
  if (!impl->Step()) return SQLITE_OK;
  impl->undo.erase(name);
  return impl->real->xDelete(impl->real, name, sync_dir);
}
int VAccess(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return ImplOf(v)->real->xAccess(ImplOf(v)->real, name, flags, out);
}
int VFullPathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return ImplOf(v)->real->xFullPathname(ImplOf(v)->real, name, n, out);
}
void* VDlOpen(sqlite3_vfs* v, const char* name) {
  return ImplOf(v)->real->xDlOpen(ImplOf(v)->real, name);
}
void VDlError(sqlite3_vfs* v, int n, char* msg) {
  ImplOf(v)->real->xDlError(ImplOf(v)->real, n, msg);
}
void (*VDlSym(sqlite3_vfs* v, void* h, const char* sym))(void) {
  return ImplOf(v)->real->xDlSym(ImplOf(v)->real, h, sym);
}
void VDlClose(sqlite3_vfs* v, void* h) { ImplOf(v)->real->xDlClose(ImplOf(v)->real, h); }
int VRandomness(sqlite3_vfs* v, int n, char* out) {
  return ImplOf(v)->real->xRandomness(ImplOf(v)->real, n, out);
}
int VSleep(sqlite3_vfs* v, int us) { return ImplOf(v)->real->xSleep(ImplOf(v)->real, us); }
int VCurrentTime(sqlite3_vfs* v, double* out) {
  return ImplOf(v)->real->xCurrentTime(ImplOf(v)->real, out);
}
int VGetLastError(sqlite3_vfs* v, int n, char* out) {
  return ImplOf(v)->real->xGetLastError(ImplOf(v)->real, n, out);
}
int VCurrentTimeInt64(sqlite3_vfs* v, sqlite3_int64* out) {
  return ImplOf(v)->real->xCurrentTimeInt64(ImplOf(v)->real, out);
}

}  // namespace

FaultSqliteVfs::FaultSqliteVfs(std::string name) : name_(std::move(name)), impl_(new Impl) {
  sqlite3_initialize();
  impl_->name = name_;
  impl_->real = sqlite3_vfs_find(nullptr);
  sqlite3_vfs& v = impl_->vfs;
  v.iVersion = 2;
  v.szOsFile = static_cast<int>(sizeof(FaultFile)) + impl_->real->szOsFile;
  v.mxPathname = impl_->real->mxPathname;
  v.zName = impl_->name.c_str();
  v.pAppData = impl_.get();
  v.xOpen = VOpen;
  v.xDelete = VDelete;
  v.xAccess = VAccess;
  v.xFullPathname = VFullPathname;
  v.xDlOpen = VDlOpen;
  v.xDlError = VDlError;
  v.xDlSym = VDlSym;
  v.xDlClose = VDlClose;
  v.xRandomness = VRandomness;
  v.xSleep = VSleep;
  v.xCurrentTime = VCurrentTime;
  v.xGetLastError = VGetLastError;
  v.xCurrentTimeInt64 = VCurrentTimeInt64;
  if (sqlite3_vfs_register(&v, /*makeDflt=*/0) != SQLITE_OK) {
    std::fprintf(stderr, "FaultSqliteVfs: cannot register VFS %s\n", name_.c_str());
    std::abort();
  }
}

FaultSqliteVfs::~FaultSqliteVfs() {
  sqlite3_vfs_unregister(&impl_->vfs);
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (int fd : impl_->undo_fds) ::close(fd);
}

void FaultSqliteVfs::CrashAtStep(int n) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->crash_at = n == 0 ? 0 : impl_->steps + n;
}

int FaultSqliteVfs::steps() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->steps;
}

bool FaultSqliteVfs::crashed() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->crashed;
}

}  // namespace vigie::testing
