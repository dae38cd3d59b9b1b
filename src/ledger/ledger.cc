#include "ledger/ledger.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

Ledger::Ledger(std::string dir, const Env& env, const crypto::SigningKey* signer)
    : dir_(std::move(dir)),
      entries_path_(dir_ + "/" + std::string(kEntriesFile)),
      heads_path_(dir_ + "/" + std::string(kHeadsFile)),
      anchors_path_(dir_ + "/" + std::string(kAnchorsFile)),
      env_(env),
      signer_(signer) {}

Ledger::~Ledger() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Result<std::unique_ptr<Ledger>> Ledger::Open(const std::string& dir, const Env& env,
                                             const crypto::SigningKey* signer) {
  if (env.fs == nullptr || env.clock == nullptr) {
    return MakeError(ErrorCode::kInternal, "Ledger::Open needs env.fs and env.clock");
  }
  std::unique_ptr<Ledger> ledger(new Ledger(dir, env, signer));
  VIGIE_RETURN_IF_ERROR(ledger->Load());
  return ledger;
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
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     fmt::format("ledger {} is already open (lock {} held by another process or "
                                 "Ledger); stop the other vigie process first",
                                 dir_, lock_path));
  }
  for (const std::string* path : {&entries_path_, &heads_path_, &anchors_path_}) {
    // An empty file created atomically: the directory entry is durable before any append.
    if (!fs.Exists(*path)) VIGIE_RETURN_IF_ERROR(fs.WriteFileAtomic(*path, "", 0600));
  }

  auto corrupt = [&](const std::string& path, uint64_t offset, std::string_view what) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("ledger file {}: {} at offset {}; the ledger refuses to append. "
                                 "Run `vigie ledger verify {}` to name the first bad entry, and "
                                 "restore the ledger directory from backup",
                                 path, what, offset, dir_));
  };

  std::vector<Repair> repairs;
  {
    VIGIE_ASSIGN_OR_RETURN(auto reader, FrameReader::Open(entries_path_, internal::kEntryMagic));
    Hash prev{};
    for (;;) {
      VIGIE_ASSIGN_OR_RETURN(Frame f, reader->Next());
      if (f.kind == Frame::Kind::kEnd) break;
      const uint64_t seq = tree_.size();
      if (f.kind == Frame::Kind::kDamaged) {
        if (!f.at_tail)
          return corrupt(entries_path_, f.offset, fmt::format("entry {}: {}", seq, f.problem));
        repairs.push_back({entries_path_, f.offset, reader->file_size() - f.offset, f.problem});
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
  {
    VIGIE_ASSIGN_OR_RETURN(auto reader,
                           FrameReader::Open(heads_path_, internal::kHeadMagic, 1 << 16));
    for (;;) {
      VIGIE_ASSIGN_OR_RETURN(Frame f, reader->Next());
      if (f.kind == Frame::Kind::kEnd) break;
      if (f.kind == Frame::Kind::kDamaged) {
        if (!f.at_tail) return corrupt(heads_path_, f.offset, f.problem);
        repairs.push_back({heads_path_, f.offset, reader->file_size() - f.offset, f.problem});
        break;
      }
      auto head = DecodeTreeHead(f.payload);
      if (!head) return corrupt(heads_path_, f.offset, head.error().message);
      heads_.push_back(*head);
      heads_size_ = f.offset + f.size;
    }
  }
  for (size_t i = 0; i < heads_.size(); ++i) {
    const TreeHead& head = heads_[i];
    if (head.tree_size > tree_.size()) {
      std::string what = fmt::format(
          "tree head #{} covers {} entries but the ledger holds {}: signed entries are missing", i,
          head.tree_size, tree_.size());
      if (!repairs.empty() && repairs[0].path == entries_path_) {
        what += fmt::format(" (entry {} is damaged: {}; a signed entry is never a torn write)",
                            tree_.size(), repairs[0].problem);
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
        return corrupt(heads_path_, 0,
                       fmt::format("tree head #{} (size {}) is not signed by the fleet key", i,
                                   head.tree_size));
      }
    }
  }
  {
    VIGIE_ASSIGN_OR_RETURN(auto reader,
                           FrameReader::Open(anchors_path_, internal::kAnchorMagic, 1 << 16));
    for (;;) {
      VIGIE_ASSIGN_OR_RETURN(Frame f, reader->Next());
      if (f.kind == Frame::Kind::kEnd) break;
      if (f.kind == Frame::Kind::kDamaged) {
        if (!f.at_tail) return corrupt(anchors_path_, f.offset, f.problem);
        repairs.push_back({anchors_path_, f.offset, reader->file_size() - f.offset, f.problem});
        break;
      }
      auto record = AnchorRecordFromJson(AsString(f.payload));
      if (!record) return corrupt(anchors_path_, f.offset, record.error().message);
      anchors_.push_back(std::move(*record));
      anchors_size_ = f.offset + f.size;
    }
  }
  for (const Repair& r : repairs) {
    // Never silent: a torn final write is a crash artefact worth an operator's attention.
    log::Warn("ledger.torn_tail_repaired", {{"file", r.path},
                                            {"offset", r.offset},
                                            {"bytes_dropped", r.bytes},
                                            {"problem", r.problem}});
    VIGIE_RETURN_IF_ERROR(fs.Truncate(r.path, r.offset));
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
  VIGIE_ASSIGN_OR_RETURN(auto path, tree_.InclusionProof(seq, tree_size));
  return InclusionProof{seq, tree_size, tree_.leaf(seq), std::move(path)};
}

Result<ConsistencyProof> Ledger::ProveConsistency(uint64_t old_size, uint64_t new_size) {
  std::lock_guard<std::mutex> lock(mu_);
  VIGIE_ASSIGN_OR_RETURN(auto path, tree_.ConsistencyProof(old_size, new_size));
  return ConsistencyProof{old_size, new_size, std::move(path)};
}

Result<Hash> Ledger::Root(uint64_t tree_size) {
  std::lock_guard<std::mutex> lock(mu_);
  return tree_.Root(tree_size);
}

Result<Entry> Ledger::ReadEntry(uint64_t seq) {
  uint64_t offset, end;
  Hash expected;
  {
    std::lock_guard<std::mutex> lock(mu_);
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

uint64_t Ledger::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tree_.size();
}

std::vector<TreeHead> Ledger::TreeHeads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return heads_;
}

std::optional<TreeHead> Ledger::LatestTreeHead() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (heads_.empty()) return std::nullopt;
  return heads_.back();
}

Status Ledger::RecordAnchor(const AnchorRecord& record) {
  std::lock_guard<std::mutex> lock(mu_);
  if (broken_) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     fmt::format("ledger {}: reopen it before recording an anchor", dir_));
  }
  std::string json = AnchorRecordToJson(record);
  std::string frame;
  internal::AppendFrame(internal::kAnchorMagic, Bytes(json), frame);
  VIGIE_RETURN_IF_ERROR(DurableAppend(anchors_path_, frame, anchors_size_));
  anchors_size_ += frame.size();
  anchors_.push_back(record);
  return OkStatus();
}

std::vector<AnchorRecord> Ledger::AnchorRecords() const {
  std::lock_guard<std::mutex> lock(mu_);
  return anchors_;
}

}  // namespace vigie::ledger
