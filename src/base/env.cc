#include "base/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <sodium.h>

namespace vigie {

int64_t ToUnixSeconds(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

WallTime FromUnixSeconds(int64_t s) {
  // WallTime counts nanoseconds in 64 bits (until year 2262): saturate instead of overflowing,
  // since the seconds may come from untrusted input (a manifest, a request).
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 1'000'000'000;
  return WallTime(std::chrono::seconds(std::clamp<int64_t>(s, -kMax, kMax)));
}

std::string FormatRfc3339(WallTime t) {
  std::time_t secs = static_cast<std::time_t>(ToUnixSeconds(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

SecretBytes Random::SecretOfSize(size_t n) {
  SecretBytes s(n);
  Fill(s.mutable_span());
  return s;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Real clock: one lazily started thread runs every timer, in deadline order.
class RealClockImpl final : public Clock {
 public:
  ~RealClockImpl() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  WallTime Now() const override { return std::chrono::system_clock::now(); }
  MonoTime Monotonic() const override { return std::chrono::steady_clock::now(); }
  void SleepFor(Duration d) override { std::this_thread::sleep_for(d); }

  std::unique_ptr<Timer> RunAfter(Duration delay, std::function<void()> callback) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
    uint64_t id = ++next_id_;
    pending_.emplace(Key{Monotonic() + delay, id}, std::move(callback));
    cv_.notify_all();
    return std::make_unique<Handle>(this, id);
  }

 private:
  using Key = std::pair<MonoTime, uint64_t>;

  class Handle final : public Timer {
   public:
    Handle(RealClockImpl* clock, uint64_t id) : clock_(clock), id_(id) {}
    ~Handle() override { Cancel(); }
    void Cancel() override { clock_->CancelTimer(id_); }

   private:
    RealClockImpl* clock_;
    uint64_t id_;
  };

  void CancelTimer(uint64_t id) {
    std::unique_lock<std::mutex> lock(mu_);
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->first.second == id) {
        pending_.erase(it);
        return;
      }
    }
    // Running now: wait for it to finish, unless we are that callback.
    if (running_id_ == id && std::this_thread::get_id() != thread_.get_id()) {
      cv_.wait(lock, [&] { return running_id_ != id; });
    }
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (pending_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto first = pending_.begin();
      if (first->first.first > Monotonic()) {
        cv_.wait_until(lock, first->first.first);
        continue;
      }
      running_id_ = first->first.second;
      auto callback = std::move(first->second);
      pending_.erase(first);
      lock.unlock();
      callback();
      lock.lock();
      running_id_ = 0;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<Key, std::function<void()>> pending_;
  uint64_t next_id_ = 0;
  uint64_t running_id_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// POSIX filesystem.
Error ErrnoError(std::string_view op, const std::string& path, int err) {
  return Error{ErrorCode::kIo, fmt::format("{} {}: {}", op, path, std::strerror(err))};
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(ErrnoError("write", path, errno));
    }
    off += static_cast<size_t>(n);
  }
  return OkStatus();
}

std::string DirName(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::string> ReadFile(const std::string& path) override {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      int err = errno;
      return tl::unexpected(Error{err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                                  fmt::format("read {}: {}", path, std::strerror(err))});
    }
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return tl::unexpected(ErrnoError("read", path, errno));
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  Status WriteFileAtomic(const std::string& path, std::string_view data, uint32_t mode) override {
    std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
    {
      Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
      if (fd.get() < 0) return tl::unexpected(ErrnoError("create", tmp, errno));
      if (::fchmod(fd.get(), mode) != 0) return tl::unexpected(ErrnoError("chmod", tmp, errno));
      auto st = WriteAll(fd.get(), data, tmp);
      if (st && ::fsync(fd.get()) != 0) st = tl::unexpected(ErrnoError("fsync", tmp, errno));
      if (!st) {
        ::unlink(tmp.c_str());
        return st;
      }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return tl::unexpected(ErrnoError("rename", path, err));
    }
    return SyncDir(DirName(path));
  }

  Status AppendFile(const std::string& path, std::string_view data, bool sync) override {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (fd.get() < 0) return tl::unexpected(ErrnoError("open", path, errno));
    VIGIE_RETURN_IF_ERROR(WriteAll(fd.get(), data, path));
    if (sync && ::fdatasync(fd.get()) != 0) {
      return tl::unexpected(ErrnoError("fdatasync", path, errno));
    }
    return OkStatus();
  }

  bool Exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  Status CreateDirs(const std::string& path, uint32_t mode) override {
    if (path.empty()) return OkStatus();
    std::string prefix;
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = path.find('/', pos + 1);
      prefix = path.substr(0, pos);
      if (prefix.empty()) continue;
      if (::mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) {
        return tl::unexpected(ErrnoError("mkdir", prefix, errno));
      }
    }
    return OkStatus();
  }

  Result<std::vector<DirEntry>> ListDir(const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return tl::unexpected(ErrnoError("opendir", path, errno));
    std::vector<DirEntry> out;
    while (struct dirent* e = ::readdir(dir)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st;
      bool is_dir = ::stat((path + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
      out.push_back({name, is_dir});
    }
    ::closedir(dir);
    return out;
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return tl::unexpected(ErrnoError("unlink", path, errno));
    }
    return OkStatus();
  }

  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      int err = errno;
      return tl::unexpected(Error{err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                                  fmt::format("stat {}: {}", path, std::strerror(err))});
    }
    return static_cast<uint64_t>(st.st_size);
  }

  Status Truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return tl::unexpected(ErrnoError("truncate", path, errno));
    }
    return OkStatus();
  }

 private:
  static Status SyncDir(const std::string& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return tl::unexpected(ErrnoError("open dir", dir, errno));
    if (::fsync(fd.get()) != 0) return tl::unexpected(ErrnoError("fsync dir", dir, errno));
    return OkStatus();
  }
};

// ---------------------------------------------------------------------------------------------
class SodiumRandom final : public Random {
 public:
  SodiumRandom() {
    if (sodium_init() < 0) std::abort();
  }
  void Fill(std::span<uint8_t> out) override { randombytes_buf(out.data(), out.size()); }
  uint32_t Uniform(uint32_t upper_bound) override { return randombytes_uniform(upper_bound); }
};

}  // namespace

Clock* RealClock() {
  static RealClockImpl* clock = new RealClockImpl();  // Never destroyed: timers may outlive main.
  return clock;
}
FileSystem* RealFileSystem() {
  static PosixFileSystem fs;
  return &fs;
}
Random* RealRandom() {
  static SodiumRandom random;
  return &random;
}
Env RealEnv() { return Env{RealClock(), RealFileSystem(), RealRandom()}; }

}  // namespace vigie
