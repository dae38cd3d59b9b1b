#include "provision/cli.h"

#include <fmt/format.h>
#include <unistd.h>

#include <optional>

#include "package/enrollment_key.h"
#include "provision/batch.h"

namespace vigie::provision {

namespace {

int Fail(std::FILE* err, const Error& error) {
  fmt::print(err, "vigie: {}\n", error.message);
  return ExitCodeFor(error.code);
}

void PrintResult(std::FILE* out, const ProvisionResult& r) {
  if (r.already_provisioned) {
    fmt::print(out,
               "site {}: already provisioned, nothing changed (no new principal, key or "
               "credential)\n",
               r.site_id);
  } else {
    fmt::print(out, "site {}: provisioned (attempt {})\n", r.site_id, r.attempt);
  }
  fmt::print(out,
             "  region:      {}\n"
             "  principal:   {} ({})\n"
             "  access key:  {}\n"
             "  kms key:     {}\n"
             "  package:     {} (sha256 {}, expires {})\n"
             "  sealed to:   enrollment key {}\n"
             "  credentials (generated; values only inside the package, sealed to the site's "
             "key):\n",
             r.region, r.principal_name, r.principal_arn, r.access_key_id,
             r.kms_key_arn.empty() ? r.kms_key_id : r.kms_key_arn, r.package_path, r.package_sha256,
             FormatRfc3339(r.package_expires_at), r.enrollment_key_fingerprint);
  for (const auto& c : r.credentials) {
    std::string extra;
    if (c.must_change) extra += ", must be changed at first login";
    if (!c.secret_ref.empty()) extra += ", fleet copy in secret " + c.secret_ref;
    fmt::print(out, "    {:<24} {} by {} ({}), {} bits{}\n", c.name, c.provenance, c.generator,
               c.alphabet, c.entropy_bits, extra);
  }
}

}  // namespace

int RunSiteProvision(const SiteProvisionOptions& options, Provisioner& provisioner, Env& env,
                     std::FILE* out, std::FILE* err) {
  if (auto s = ValidateSiteId(options.site_id); !s) return Fail(err, s.error());
  if (options.enrollment_key_file.empty()) {
    return Fail(err, Error{ErrorCode::kInvalidArgument,
                           "--enrollment-key is required: the site's enrollment.pub, made on the "
                           "site by `vigie agent keygen`"});
  }
  auto key = package::LoadEnrollmentPublicKey(options.enrollment_key_file, *env.fs);
  if (!key) return Fail(err, key.error().Wrap("--enrollment-key"));
  auto result = provisioner.Provision(SiteRequest{options.site_id, options.region, *key});
  if (!result) return Fail(err, result.error());
  PrintResult(out, *result);
  if (!result->already_provisioned) {
    fmt::print(out,
               "next: hand {} to the site; it verifies it with `vigie package verify` and the "
               "fleet's public key\n",
               result->package_path);
  }
  return 0;
}

int RunSiteProvisionBatch(const std::string& batch_file, Provisioner& provisioner, Env& env,
                          std::FILE* out, std::FILE* err, ProgressMode progress) {
  auto requests = LoadBatchFile(batch_file, *env.fs);
  if (!requests) return Fail(err, requests.error());
  const bool bar = progress == ProgressMode::kAlways ||
                   (progress == ProgressMode::kAuto && ::isatty(::fileno(err)) == 1);
  if (bar) {
    fmt::print(err, "\r{}", RenderProgressBar(0, requests->size(), ""));
    std::fflush(err);
  }
  auto on_progress = [&](size_t done, size_t total, std::string_view site, const Error* error) {
    if (bar) fmt::print(err, "\r\033[K");  // the bar's line is reused for the site's line
    if (error) {
      fmt::print(err, "vigie: {}\n", error->message);
    } else {
      fmt::print(out, "site {}: ok\n", site);
      std::fflush(out);
    }
    if (bar) {
      fmt::print(err, "\r{}", RenderProgressBar(done, total, site));
      if (done == total) fmt::print(err, "\n");
      std::fflush(err);
    }
  };
  auto batch = provisioner.ProvisionBatch(*requests, on_progress);
  if (!batch) return Fail(err, batch.error());
  std::optional<ErrorCode> first_error;
  for (const auto& item : batch->items) {
    if (item.result) {
      PrintResult(out, *item.result);
    } else if (!first_error) {
      first_error = item.error->code;
    }
  }
  fmt::print(out, "{} sites: {} provisioned, {} failed\n", batch->items.size(),
             batch->items.size() - batch->failed, batch->failed);
  if (first_error) {
    fmt::print(err,
               "vigie: {} of {} sites failed (see above); each failed site was rolled back and "
               "is recorded failed: fix the cause and run the same batch again\n",
               batch->failed, batch->items.size());
    return ExitCodeFor(*first_error);
  }
  return 0;
}

}  // namespace vigie::provision
