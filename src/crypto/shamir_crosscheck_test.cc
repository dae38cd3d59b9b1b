// Cross-check of vigie's Shamir implementation against an independent one: the npm package
// `shamir-secret-sharing` (Vault's share format), driven through tests/peers/shamir_crosscheck.mjs.
// Labelled "integration": it needs node and the npm test peers (scripts/install-deps.sh), and
// skips with a message when they are missing.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "base/encoding.h"
#include "crypto/shamir.h"
#include "testing/temp_dir.h"

namespace vigie::crypto {
namespace {

SecretBytes RandomSecret(size_t n) { return RealRandom()->SecretOfSize(n); }

// --- Cross-check with the independent npm implementation of Vault's format. ---

struct Peer {
  std::string script;
  std::string npm_dir;
};

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// Runs `cmd`, returns stdout; sets *exit_code.
std::string RunCapture(const std::string& cmd, int* exit_code) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *exit_code = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

class ShamirCrossCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* env_dir = std::getenv("VIGIE_NPM_DIR");
    peer_.npm_dir = env_dir && *env_dir ? env_dir : testing::SourceDir() + "/build/npm";
    peer_.script = testing::SourceDir() + "/tests/peers/shamir_crosscheck.mjs";
    if (std::system("node --version >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "node not found on PATH; install nodejs (scripts/install-deps.sh)";
    }
    const std::string pkg = peer_.npm_dir + "/node_modules/shamir-secret-sharing/esm/index.js";
    if (!std::filesystem::exists(pkg)) {
      GTEST_SKIP() << pkg << " not found; run scripts/install-deps.sh or set VIGIE_NPM_DIR";
    }
    ASSERT_TRUE(std::filesystem::exists(peer_.script)) << peer_.script;
  }

  std::vector<std::string> Node(const std::string& args) {
    int rc = 0;
    const std::string cmd =
        "VIGIE_NPM_DIR=" + Quote(peer_.npm_dir) + " node " + Quote(peer_.script) + " " + args;
    std::istringstream out(RunCapture(cmd, &rc));
    EXPECT_EQ(rc, 0) << cmd;
    std::vector<std::string> lines;
    for (std::string line; std::getline(out, line);) {
      if (!line.empty()) lines.push_back(line);
    }
    return lines;
  }

  Peer peer_;
};

TEST_F(ShamirCrossCheckTest, VigieSplitNodeCombines) {
  for (auto [len, n, k] :
       std::vector<std::tuple<size_t, int, int>>{{32, 5, 3}, {16, 4, 2}, {1, 7, 5}}) {
    const SecretBytes secret = RandomSecret(len);
    auto shares = ShamirSplit(secret, n, k, *RealRandom());
    ASSERT_TRUE(shares.has_value());
    // Two different k-subsets, in non-sorted order.
    for (int offset : {0, n - k}) {
      std::string args = "combine";
      for (int i = k - 1; i >= 0; --i) args += " " + HexEncode((*shares)[offset + i].span());
      const auto lines = Node(args);
      ASSERT_EQ(lines.size(), 1u);
      EXPECT_EQ(lines[0], HexEncode(secret.span())) << len << " " << n << " " << k;
    }
    // Fewer than k shares do not give the secret in the peer either.
    std::string args = "combine";
    for (int i = 0; i < k - 1; ++i) args += " " + HexEncode((*shares)[i].span());
    if (k - 1 >= 2 && len >= 16) {
      const auto lines = Node(args);
      ASSERT_EQ(lines.size(), 1u);
      EXPECT_NE(lines[0], HexEncode(secret.span()));
    }
  }
}

TEST_F(ShamirCrossCheckTest, NodeSplitVigieCombines) {
  for (auto [len, n, k] :
       std::vector<std::tuple<size_t, int, int>>{{32, 5, 3}, {24, 6, 4}, {3, 2, 2}}) {
    const SecretBytes secret = RandomSecret(len);
    const auto lines = Node("split " + HexEncode(secret.span()) + " " + std::to_string(n) + " " +
                            std::to_string(k));
    ASSERT_EQ(lines.size(), static_cast<size_t>(n));
    std::vector<SecretBytes> shares;
    for (const auto& hex : lines) {
      auto bytes = HexDecode(hex);
      ASSERT_TRUE(bytes.has_value()) << hex;
      ASSERT_EQ(bytes->size(), len + 1);  // Vault layout: y bytes + x byte
      shares.push_back(SecretBytes::CopyFrom(*bytes));
    }
    for (int offset : {0, n - k}) {
      std::vector<SecretBytes> subset;
      for (int i = 0; i < k; ++i) subset.push_back(shares[offset + i].Clone());
      auto back = ShamirCombine(subset);
      ASSERT_TRUE(back.has_value()) << back.error().ToString();
      EXPECT_TRUE(*back == secret) << len << " " << n << " " << k;
    }
  }
}

}  // namespace
}  // namespace vigie::crypto
