#pragma once
// FakeSecrets: an in-memory backend::SecretsBackend for unit tests, mirroring the contract of
// backend/secrets.h (request tokens, AWSCURRENT/AWSPREVIOUS stages, kAlreadyExists / kNotFound),
// plus test controls: a fail-next-call switch, an observer of every call (to assert ordering
// against other peers), and read access to what was stored.
//
// Thread-safety: every method is safe to call from several threads (one mutex).

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backend/secrets.h"

namespace vigie::testing {

class FakeSecrets final : public backend::SecretsBackend {
 public:
  // Called at the start of every call with the operation ("Create", "PutVersion", "Get", "List",
  // "Delete") and the secret name (or prefix for List), under no lock.
  using Observer = std::function<void(std::string_view op, std::string_view name)>;

  explicit FakeSecrets(Clock* clock = nullptr) : clock_(clock) {}

  std::string_view Name() const override { return "fake"; }
  Result<backend::SecretVersion> Create(const std::string& name, const SecretBytes& value,
                                        const backend::Tags& tags,
                                        const std::string& request_token) override;
  Result<backend::SecretVersion> PutVersion(const std::string& name, const SecretBytes& value,
                                            const std::string& request_token,
                                            const std::vector<std::string>& stages) override;
  Result<SecretBytes> Get(const std::string& name, const std::string& stage,
                          const std::string& version_id) override;
  Result<std::vector<backend::SecretInfo>> List(const std::string& prefix) override;
  vigie::Status Delete(const std::string& name) override;

  // The call `skip` calls from now (0 = the very next one) fails with `error` and changes nothing.
  void FailNextCall(Error error, int skip = 0);
  void SetObserver(Observer observer);
  // Number of secrets held; the tags of one (nullopt when absent).
  size_t size() const;
  std::optional<backend::Tags> TagsOf(const std::string& name) const;

 private:
  struct Version {
    std::string id;
    SecretBytes value;
    std::vector<std::string> stages;
    std::string request_token;
  };
  struct Secret {
    backend::Tags tags;
    WallTime created_at;
    std::optional<WallTime> changed_at;
    std::vector<Version> versions;
  };
  // Runs the observer and the failure switch; returns the injected error, if any.
  std::optional<Error> Enter(std::string_view op, std::string_view name);
  WallTime Now() const;
  backend::SecretVersion Describe(const std::string& name, const Version& v) const;

  Clock* clock_;
  mutable std::mutex mu_;
  std::map<std::string, Secret> secrets_;
  int next_version_ = 1;
  std::optional<Error> fail_error_;
  int fail_skip_ = 0;
  Observer observer_;
};

}  // namespace vigie::testing
