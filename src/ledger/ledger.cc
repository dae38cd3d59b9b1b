#include "ledger/ledger.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "base/encoding.h"
#include "base/log.h"
#include "ledger/frame.h"

namespace vigie::ledger {

using internal::Frame;
using internal::FrameReader;

namespace {

int64_t NowMs(Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
      .count();
}

std::span<const uint8_t> Bytes(std::string_view s) { return AsBytes(s); }

struct Repair {
  std::string path;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  std::string problem;
};

}  // namespace

// A held flock on `dir`/LOCK, released on destruction (the fd stays open with the Ledger).
class Ledger::FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {}
  FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() {
    if (fd_ >= 0) ::flock(fd_, LOCK_UN);
  }

 private:
  int fd_;
};

Ledger::Ledger(std::string dir, const Env& env, const crypto::SigningKey* signer,
               LedgerOptions options)
    : dir_(std::move(dir)),
      entries_path_(dir_ + "/" + std::string(kEntriesFile)),
      heads_path_(dir_ + "/" + std::string(kHeadsFile)),
      anchors_path_(dir_ + "/" + std::string(kAnchorsFile)),
      env_(env),
      signer_(signer),
      options_(options) {}

Ledger::~Ledger() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<std::unique_ptr<Ledger>> Ledger::Open(const std::string& dir, const Env& env,
                                             const crypto::SigningKey* signer,
                                             LedgerOptions options) {
  if (env.fs == nullptr || env.clock == nullptr) {
    return MakeError(ErrorCode::kInternal, "Ledger::Open needs env.fs and env.clock");
  }
  std::unique_ptr<Ledger> ledger(new Ledger(dir, env, signer, options));
  VIGIE_RETURN_IF_ERROR(ledger->Load());
  return ledger;
}

Result<Ledger::FileLock> Ledger::LockDir(int operation) {
  // Polled with LOCK_NB rather than a blocking flock: flock has no timeout, and the wait must be
  // bounded. Real time, not env.clock: the holder is another process no fake clock drives.
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + options_.lock_timeout;
  auto delay = std::chrono::microseconds(200);
  for (;;) {
    if (::flock(lock_fd_, operation | LOCK_NB) == 0) return FileLock(lock_fd_);
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EWOULDBLOCK) {
      return MakeError(ErrorCode::kIo, fmt::format("flock {}/LOCK: {}", dir_, std::strerror(err)));
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return MakeError(
          ErrorCode::kUnavailable,
          fmt::format("ledger lock {}/LOCK is held by another vigie process (or another open "
                      "Ledger); waited {} ms. Retry when it is done, or find the holder with "
                      "`fuser {}/LOCK`",
                      dir_,
                      std::chrono::duration_cast<std::chrono::milliseconds>(now - start).count(),
                      dir_));
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(delay, deadline - now));
    delay = std::min<std::chrono::microseconds>(delay * 2, std::chrono::milliseconds(10));
  }
}

Status Ledger::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  FileSystem& fs = *env_.fs;
  VIGIE_RETURN_IF_ERROR(fs.CreateDirs(dir_, 0700));
  const std::string lock_path = dir_ + "/LOCK";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    return MakeError(ErrorCode::kIo, fmt::format("open {}: {}", lock_path, std::strerror(errno)));
  }
  VIGIE_ASSIGN_OR_RETURN(FileLock held, LockDir(LOCK_EX));
  for (const std::string* path : {&entries_path_, &heads_path_, &anchors_path_}) {
    // An empty file created atomically: the directory entry is durable before any append.
    if (!fs.Exists(*path)) VIGIE_RETURN_IF_ERROR(fs.WriteFileAtomic(*path, "", 0600));
  }
  return CatchUp(/*exclusive=*/true);
}

Result<Ledger::FileLock> Ledger::LockForWrite() {
  VIGIE_ASSIGN_OR_RETURN(FileLock held, LockDir(LOCK_EX));
  VIGIE_RETURN_IF_ERROR(CatchUp(/*exclusive=*/true));
  return held;
}

Status Ledger::RefreshForRead() {
  if (failed_) return tl::unexpected(*failed_);
  // Unchanged sizes: nothing committed since (an append in progress shows as growth; a frame is
  // only ever removed beyond the committed size, by a rollback or a repair).
  bool grew = false;
  for (auto [path, known] :
       {std::pair{&entries_path_, entries_size_}, std::pair{&heads_path_, heads_size_},
        std::pair{&anchors_path_, anchors_size_}}) {
    struct stat st;
    if (::stat(path->c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != known) {
      grew = true;  // CatchUp names what is wrong (missing, shrunk) or reads what is new
      break;
    }
  }
  if (!grew) return OkStatus();
  VIGIE_ASSIGN_OR_RETURN(FileLock held, LockDir(LOCK_SH));
  return CatchUp(/*exclusive=*/false);
}

void Ledger::RefreshOrLog() {
  if (auto s = RefreshForRead(); !s) {
    log::Warn("ledger.refresh_failed", {{"dir", dir_}, {"error", s.error().ToString()}});
  }
}

Status Ledger::Refresh() {
  std::lock_guard<std::mutex> lock(mu_);
  return RefreshForRead();
}

Status Ledger::CatchUp(bool exclusive) {
  if (failed_) return tl::unexpected(*failed_);
  auto status = CatchUpImpl(exclusive);
  if (!status && status.error().code == ErrorCode::kIntegrity) failed_ = status.error();
  return status;
}

Status Ledger::CatchUpImpl(bool exclusive) {
  // Every frame is accepted only once checked, and the known sizes advance frame by frame: an
  // error part-way leaves a consistent (older) state.
  auto corrupt = [&](const std::string& path, uint64_t offset, std::string_view what) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("ledger file {}: {} at offset {}; the ledger refuses to append. "
                                 "Run `vigie ledger verify {}` to name the first bad entry, and "
                                 "restore the ledger directory from backup",
                                 path, what, offset, dir_));
  };
  auto open = [&](const std::string& path, const internal::Magic& magic,
                  uint64_t start) -> Result<std::unique_ptr<FrameReader>> {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT) {
        return corrupt(path, start, "the file is missing (deleted since the ledger was opened)");
      }
      return MakeError(ErrorCode::kIo, fmt::format("stat {}: {}", path, std::strerror(err)));
    }
    const auto size = static_cast<uint64_t>(st.st_size);
    if (size == start) return std::unique_ptr<FrameReader>();  // nothing new
    if (size < start) {
      return corrupt(path, size,
                     fmt::format("the file shrank below the {} bytes already read (an "
                                 "append-only file was truncated)",
                                 start));
    }
    // Sized to what is new: catching up after one append reads a few hundred bytes.
    const size_t buffer = static_cast<size_t>(std::min<uint64_t>(size - start, 8u << 20));
    return FrameReader::Open(path, magic, buffer, start);
  };

  std::vector<Repair> repairs;
  std::optional<std::string> damaged_entry;  // the tail entry frame's problem, if damaged
  VIGIE_ASSIGN_OR_RETURN(auto entries, open(entries_path_, internal::kEntryMagic, entries_size_));
  if (entries != nullptr) {
    FrameReader* reader = entries.get();
    Hash prev = tree_.size() == 0 ? Hash{} : tree_.leaf(tree_.size() - 1);
    for (;;) {
      VIGIE_ASSIGN_OR_RETURN(Frame f, reader->Next());
      if (f.kind == Frame::Kind::kEnd) break;
      const uint64_t seq = tree_.size();
      if (f.kind == Frame::Kind::kDamaged) {
        if (!f.at_tail)
          return corrupt(entries_path_, f.offset, fmt::format("entry {}: {}", seq, f.problem));
        damaged_entry = f.problem;
        if (exclusive) {
          repairs.push_back({entries_path_, f.offset, reader->file_size() - f.offset, f.problem});
        }
        break;
      }
      auto header = DecodeEntryHeader(f.payload);
      if (!header) return corrupt(entries_path_, f.offset, header.error().message);
      if (header->seq != seq) {
        return corrupt(entries_path_, f.offset,
                       fmt::format("entry with seq {} where entry {} belongs", header->seq, seq));
      }
      if (header->prev_hash != prev) {
        return corrupt(entries_path_, f.offset,
                       fmt::format("entry {}'s prev_hash does not match the hash of entry {}", seq,
                                   seq == 0 ? 0 : seq - 1));
      }
      prev = hasher_.HashLeaf(f.payload);
      tree_.Append(prev);
      offsets_.push_back(f.offset);
      entries_size_ = f.offset + f.size;
    }
  }
  VIGIE_ASSIGN_OR_RETURN(auto heads, open(heads_path_, internal::kHeadMagic, heads_size_));
  if (heads != nullptr) {
    FrameReader* reader = heads.get();
    for (;;) {
      VIGIE_ASSIGN_OR_RETURN(Frame f, reader->Next());
      if (f.kind == Frame::Kind::kEnd) break;
      if (f.kind == Frame::Kind::kDamaged) {
        if (!f.at_tail) return corrupt(heads_path_, f.offset, f.problem);
        if (exclusive) {
          repairs.push_back({heads_path_, f.offset, reader->file_size() - f.offset, f.problem});
        }
        break;
      }
      auto decoded = DecodeTreeHead(f.payload);
      if (!decoded) return corrupt(heads_path_, f.offset, decoded.error().message);
      const TreeHead& head = *decoded;
      const size_t i = heads_.size();
      if (head.tree_size > tree_.size()) {
        std::string what = fmt::format(
            "tree head #{} covers {} entries but the ledger holds {}: signed entries are missing",
            i, head.tree_size, tree_.size());
        if (damaged_entry) {
          what += fmt::format(" (entry {} is damaged: {}; a signed entry is never a torn write)",
                              tree_.size(), *damaged_entry);
        }
        return corrupt(entries_path_, entries_size_, what);
      }
      VIGIE_ASSIGN_OR_RETURN(Hash root, tree_.Root(head.tree_size));
      if (root != head.root) {
        return corrupt(entries_path_, 0,
                       fmt::format("the entries no longer match tree head #{} (size {}): root {} "
                                   "expected {}",
                                   i, head.tree_size, HexEncode(root), HexEncode(head.root)));
      }
      if (signer_ != nullptr) {
        if (auto s = VerifyTreeHead(head, signer_->public_key()); !s) {
          return corrupt(heads_path_, f.offset,
                         fmt::format("tree head #{} (size {}) is not signed by the fleet key", i,
                                     head.tree_size));
        }
      }
      heads_.push_back(head);
      heads_size_ = f.offset + f.size;
    }
  }
  VIGIE_ASSIGN_OR_RETURN(auto anchors, open(anchors_path_, internal::kAnchorMagic, anchors_size_));
  if (anchors != nullptr) {
    FrameReader* reader = anchors.get();
    for (;;) {
      VIGIE_ASSIGN_OR_RETURN(Frame f, reader->Next());
      if (f.kind == Frame::Kind::kEnd) break;
      if (f.kind == Frame::Kind::kDamaged) {
        if (!f.at_tail) return corrupt(anchors_path_, f.offset, f.problem);
        if (exclusive) {
          repairs.push_back({anchors_path_, f.offset, reader->file_size() - f.offset, f.problem});
        }
        break;
      }
      auto record = AnchorRecordFromJson(AsString(f.payload));
      if (!record) return corrupt(anchors_path_, f.offset, record.error().message);
      anchors_.push_back(std::move(*record));
      anchors_size_ = f.offset + f.size;
    }
  }
  // Only under the exclusive lock (no append in progress anywhere): what is damaged at the
  // tail was left by a writer that crashed.
  for (const Repair& r : repairs) {
    // Never silent: a torn final write is a crash artefact worth an operator's attention.
    log::Warn("ledger.torn_tail_repaired", {{"file", r.path},
                                            {"offset", r.offset},
                                            {"bytes_dropped", r.bytes},
                                            {"problem", r.problem}});
    VIGIE_RETURN_IF_ERROR(env_.fs->Truncate(r.path, r.offset));
  }
  return OkStatus();
}

Status Ledger::DurableAppend(const std::string& path, std::string_view data, uint64_t good_size) {
  auto status = env_.fs->AppendFile(path, data, /*sync=*/true);
  if (status) return status;
  // Leave no partial frame behind: a later append after it would turn a torn write into
  // mid-file corruption.
  if (auto size = env_.fs->FileSize(path); size && *size == good_size) {
    return tl::unexpected(status.error().Wrap("ledger: entry not recorded"));
  }
  if (auto t = env_.fs->Truncate(path, good_size); !t) {
    broken_ = true;
    log::Error("ledger.rollback_failed",
               {{"file", path}, {"offset", good_size}, {"error", t.error().message}});
  }
  return tl::unexpected(status.error().Wrap("ledger: entry not recorded"));
}

Result<EntryRef> Ledger::Append(std::string_view kind, std::string_view site,
                                std::string_view body_json) {
  NewEntry e{std::string(kind), std::string(site), std::string(body_json)};
  VIGIE_ASSIGN_OR_RETURN(auto refs, AppendBatch(std::span<const NewEntry>(&e, 1)));
  return refs[0];
}

Result<std::vector<EntryRef>> Ledger::AppendBatch(std::span<const NewEntry> entries) {
  std::lock_guard<std::mutex> lock(mu_);
  if (broken_) return AppendLocked(entries);  // refuses, naming why
  VIGIE_ASSIGN_OR_RETURN(FileLock held, LockForWrite());
  return AppendLocked(entries);
}

Result<std::vector<EntryRef>> Ledger::AppendLocked(std::span<const NewEntry> entries) {
  if (broken_) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     fmt::format("ledger {}: an earlier failed write could not be rolled back; "
                                 "reopen the ledger (it repairs the torn tail) before appending",
                                 dir_));
  }
  const int64_t now = NowMs(*env_.clock);
  std::string frames;
  std::vector<EntryRef> refs;
  std::vector<uint64_t> offsets;
  Hash prev = tree_.size() == 0 ? Hash{} : tree_.leaf(tree_.size() - 1);
  for (const NewEntry& n : entries) {
    VIGIE_ASSIGN_OR_RETURN(std::string body, ValidateEntryFields(n.kind, n.site, n.body_json));
    Entry e;
    e.seq = tree_.size() + refs.size();
    e.timestamp_ms = now;
    e.prev_hash = prev;
    e.kind = n.kind;
    e.site = n.site;
    e.body = std::move(body);
    std::string encoded = EncodeEntry(e);
    prev = hasher_.HashLeaf(Bytes(encoded));
    offsets.push_back(entries_size_ + frames.size());
    internal::AppendFrame(internal::kEntryMagic, Bytes(encoded), frames);
    refs.push_back(EntryRef{e.seq, prev, now});
  }
  if (refs.empty()) return refs;
  VIGIE_RETURN_IF_ERROR(DurableAppend(entries_path_, frames, entries_size_));
  for (size_t i = 0; i < refs.size(); ++i) {
    tree_.Append(refs[i].hash);
    offsets_.push_back(offsets[i]);
  }
  entries_size_ += frames.size();
  return refs;
}

Result<TreeHead> Ledger::SignTreeHead() {
  std::lock_guard<std::mutex> lock(mu_);
  if (signer_ == nullptr) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     fmt::format("ledger {} was opened without the fleet key: cannot sign a "
                                 "tree head",
                                 dir_));
  }
  if (broken_) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     fmt::format("ledger {}: reopen it before signing a tree head", dir_));
  }
  VIGIE_ASSIGN_OR_RETURN(FileLock held, LockForWrite());
  TreeHead head;
  head.tree_size = tree_.size();
  head.timestamp_ms = NowMs(*env_.clock);
  VIGIE_ASSIGN_OR_RETURN(head.root, tree_.Root(head.tree_size));
  std::string msg = TreeHeadSignedBytes(head);
  head.signature = signer_->Sign(Bytes(msg));
  std::string frame;
  std::string record = EncodeTreeHead(head);
  internal::AppendFrame(internal::kHeadMagic, Bytes(record), frame);
  VIGIE_RETURN_IF_ERROR(DurableAppend(heads_path_, frame, heads_size_));
  heads_size_ += frame.size();
  heads_.push_back(head);
  return head;
}

Result<InclusionProof> Ledger::ProveInclusion(uint64_t seq, uint64_t tree_size) {
  std::lock_guard<std::mutex> lock(mu_);
  VIGIE_RETURN_IF_ERROR(RefreshForRead());
  VIGIE_ASSIGN_OR_RETURN(auto path, tree_.InclusionProof(seq, tree_size));
  return InclusionProof{seq, tree_size, tree_.leaf(seq), std::move(path)};
}

Result<ConsistencyProof> Ledger::ProveConsistency(uint64_t old_size, uint64_t new_size) {
  std::lock_guard<std::mutex> lock(mu_);
  VIGIE_RETURN_IF_ERROR(RefreshForRead());
  VIGIE_ASSIGN_OR_RETURN(auto path, tree_.ConsistencyProof(old_size, new_size));
  return ConsistencyProof{old_size, new_size, std::move(path)};
}

Result<Hash> Ledger::Root(uint64_t tree_size) {
  std::lock_guard<std::mutex> lock(mu_);
  VIGIE_RETURN_IF_ERROR(RefreshForRead());
  return tree_.Root(tree_size);
}

Result<Entry> Ledger::ReadEntry(uint64_t seq) {
  uint64_t offset, end;
  Hash expected;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Entries below the known size never change (append-only): catch up only to read past it.
    if (seq >= tree_.size() || failed_) VIGIE_RETURN_IF_ERROR(RefreshForRead());
    if (seq >= tree_.size()) {
      return MakeError(ErrorCode::kNotFound, fmt::format("ledger {} has no entry {} (it holds {})",
                                                         dir_, seq, tree_.size()));
    }
    offset = offsets_[seq];
    end = seq + 1 < offsets_.size() ? offsets_[seq + 1] : entries_size_;
    expected = tree_.leaf(seq);
  }
  int fd = ::open(entries_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return MakeError(ErrorCode::kIo,
                     fmt::format("open {}: {}", entries_path_, std::strerror(errno)));
  }
  std::vector<uint8_t> buf(end - offset);
  ssize_t got = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
  int err = errno;
  ::close(fd);
  if (got != static_cast<ssize_t>(buf.size())) {
    return MakeError(ErrorCode::kIo, fmt::format("read {} at offset {}: {}", entries_path_, offset,
                                                 got < 0 ? std::strerror(err) : "short"));
  }
  std::span<const uint8_t> payload(buf.data() + internal::kFrameHeaderSize,
                                   buf.size() - internal::kFrameHeaderSize);
  TreeHasher hasher;
  if (hasher.HashLeaf(payload) != expected) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("ledger {}: entry {} changed on disk since the ledger was "
                                 "opened; run `vigie ledger verify`",
                                 dir_, seq));
  }
  return DecodeEntry(payload);
}

uint64_t Ledger::size() {
  std::lock_guard<std::mutex> lock(mu_);
  RefreshOrLog();
  return tree_.size();
}

std::vector<TreeHead> Ledger::TreeHeads() {
  std::lock_guard<std::mutex> lock(mu_);
  RefreshOrLog();
  return heads_;
}

std::optional<TreeHead> Ledger::LatestTreeHead() {
  std::lock_guard<std::mutex> lock(mu_);
  RefreshOrLog();
  if (heads_.empty()) return std::nullopt;
  return heads_.back();
}

Status Ledger::RecordAnchor(const AnchorRecord& record) {
  std::lock_guard<std::mutex> lock(mu_);
  if (broken_) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     fmt::format("ledger {}: reopen it before recording an anchor", dir_));
  }
  VIGIE_ASSIGN_OR_RETURN(FileLock held, LockForWrite());
  std::string json = AnchorRecordToJson(record);
  std::string frame;
  internal::AppendFrame(internal::kAnchorMagic, Bytes(json), frame);
  VIGIE_RETURN_IF_ERROR(DurableAppend(anchors_path_, frame, anchors_size_));
  anchors_size_ += frame.size();
  anchors_.push_back(record);
  return OkStatus();
}

std::vector<AnchorRecord> Ledger::AnchorRecords() {
  std::lock_guard<std::mutex> lock(mu_);
  RefreshOrLog();
  return anchors_;
}

}  // namespace vigie::ledger
