#pragma once
// Test support for the package suites: a deterministic fleet key, a fresh site key pair, a valid
// manifest and a full set of site secrets drawn from the real credential generator.

#include <string>
#include <vector>

#include "base/env.h"
#include "crypto/seal.h"
#include "crypto/sign.h"
#include "package/package.h"
#include "testing/fake_clock.h"

namespace vigie::package::testing {

// 2026-01-01T00:00:00Z, the FakeClock's default start.
WallTime T0();

struct Fixture {
  Fixture();
  vigie::testing::FakeClock clock;
  Env env;  // fake clock, real filesystem, real CSPRNG
  crypto::SigningKey fleet_key;
  crypto::SigningKey other_fleet_key;
  crypto::BoxKeyPair site_key;
  crypto::BoxKeyPair other_site_key;
  Manifest manifest;  // valid from T0() for 7 days

  // A fresh set of the five well-known secrets; the admin password is must-change.
  SiteSecrets NewSecrets();
  // Every secret value of `secrets`, copied out (for scans in tests only).
  static std::vector<std::string> Values(const SiteSecrets& secrets);
  // BuildPackage with the fixture's keys; fails the test on error.
  Bytes Build(const SiteSecrets& secrets);
};

// Reads / writes a whole file (test helpers; abort the test on failure via gtest asserts).
Bytes ReadAll(const std::string& path);
void WriteAll(const std::string& path, std::span<const uint8_t> data);
bool HaveCommand(const std::string& name);
// Runs `script` with /bin/sh -e in `dir`; returns the exit status and captures stdout+stderr.
int RunShell(const std::string& dir, const std::string& script, std::string* output);

}  // namespace vigie::package::testing
