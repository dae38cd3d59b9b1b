#include "testing/fake_secrets.h"

#include <algorithm>

namespace vigie::testing {

namespace {
bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}
void Drop(std::vector<std::string>& v, const std::string& s) {
  v.erase(std::remove(v.begin(), v.end(), s), v.end());
}
}  // namespace

std::optional<Error> FakeSecrets::Enter(std::string_view op, std::string_view name) {
  Observer observer;
  std::optional<Error> injected;
  {
    std::lock_guard<std::mutex> lock(mu_);
    observer = observer_;
    if (fail_error_) {
      if (fail_skip_ == 0) {
        injected = std::move(fail_error_);
        fail_error_.reset();
      } else {
        --fail_skip_;
      }
    }
  }
  if (observer) observer(op, name);
  return injected;
}

WallTime FakeSecrets::Now() const { return clock_ ? clock_->Now() : RealClock()->Now(); }

backend::SecretVersion FakeSecrets::Describe(const std::string& name, const Version& v) const {
  return backend::SecretVersion{name, "fake:secret:" + name, v.id, v.stages};
}

Result<backend::SecretVersion> FakeSecrets::Create(const std::string& name,
                                                   const SecretBytes& value,
                                                   const backend::Tags& tags,
                                                   const std::string& request_token) {
  if (auto e = Enter("Create", name)) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = secrets_.find(name);
  if (it != secrets_.end()) {
    const Version& first = it->second.versions.front();
    if (!request_token.empty() && first.request_token == request_token) {
      if (first.value == value) return Describe(name, first);
    }
    return MakeError(ErrorCode::kAlreadyExists, "fake secrets: Create: " + name + " exists");
  }
  Secret s;
  s.tags = tags;
  s.created_at = Now();
  s.versions.push_back(
      Version{"v" + std::to_string(next_version_++), value.Clone(), {"AWSCURRENT"}, request_token});
  auto desc = Describe(name, s.versions.back());
  secrets_.emplace(name, std::move(s));
  return desc;
}

Result<backend::SecretVersion> FakeSecrets::PutVersion(const std::string& name,
                                                       const SecretBytes& value,
                                                       const std::string& request_token,
                                                       const std::vector<std::string>& stages) {
  if (auto e = Enter("PutVersion", name)) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = secrets_.find(name);
  if (it == secrets_.end()) {
    return MakeError(ErrorCode::kNotFound, "fake secrets: PutVersion: no secret " + name);
  }
  Secret& s = it->second;
  for (const Version& v : s.versions) {
    if (!request_token.empty() && v.request_token == request_token) {
      if (v.value == value) return Describe(name, v);
      return MakeError(ErrorCode::kAlreadyExists,
                       "fake secrets: PutVersion: request token reused with another value");
    }
  }
  std::vector<std::string> new_stages =
      stages.empty() ? std::vector<std::string>{"AWSCURRENT"} : stages;
  if (Has(new_stages, "AWSCURRENT")) {
    for (Version& v : s.versions) {
      Drop(v.stages, "AWSPREVIOUS");
      if (Has(v.stages, "AWSCURRENT")) {
        Drop(v.stages, "AWSCURRENT");
        v.stages.push_back("AWSPREVIOUS");
      }
    }
  }
  for (Version& v : s.versions) {
    for (const auto& st : new_stages) {
      if (st != "AWSCURRENT") Drop(v.stages, st);
    }
  }
  s.versions.push_back(
      Version{"v" + std::to_string(next_version_++), value.Clone(), new_stages, request_token});
  s.changed_at = Now();
  return Describe(name, s.versions.back());
}

Result<SecretBytes> FakeSecrets::Get(const std::string& name, const std::string& stage,
                                     const std::string& version_id) {
  if (auto e = Enter("Get", name)) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = secrets_.find(name);
  if (it == secrets_.end()) {
    return MakeError(ErrorCode::kNotFound, "fake secrets: Get: no secret " + name);
  }
  for (const Version& v : it->second.versions) {
    if (version_id.empty() ? Has(v.stages, stage.empty() ? "AWSCURRENT" : stage)
                           : v.id == version_id) {
      return v.value.Clone();
    }
  }
  return MakeError(ErrorCode::kNotFound, "fake secrets: Get: " + name + " has no such version");
}

Result<std::vector<backend::SecretInfo>> FakeSecrets::List(const std::string& prefix) {
  if (auto e = Enter("List", prefix)) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<backend::SecretInfo> out;
  for (const auto& [name, s] : secrets_) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    out.push_back(
        backend::SecretInfo{name, "fake:secret:" + name, s.tags, s.created_at, s.changed_at});
  }
  return out;
}

vigie::Status FakeSecrets::Delete(const std::string& name) {
  if (auto e = Enter("Delete", name)) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  secrets_.erase(name);
  return OkStatus();
}

void FakeSecrets::FailNextCall(Error error, int skip) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_error_ = std::move(error);
  fail_skip_ = skip;
}

void FakeSecrets::SetObserver(Observer observer) {
  std::lock_guard<std::mutex> lock(mu_);
  observer_ = std::move(observer);
}

size_t FakeSecrets::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return secrets_.size();
}

std::optional<backend::Tags> FakeSecrets::TagsOf(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = secrets_.find(name);
  if (it == secrets_.end()) return std::nullopt;
  return it->second.tags;
}

}  // namespace vigie::testing
