#include "provision/batch.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "package/enrollment_key.h"

namespace vigie::provision {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    out.push_back(Trim(s.substr(start, end == std::string_view::npos ? end : end - start)));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Result<std::vector<BatchLine>> ParseBatchFile(std::string_view text, std::string_view file_name) {
  std::vector<BatchLine> out;
  std::map<std::string, int, std::less<>> seen;
  bool first_content = true;
  int number = 0;
  size_t pos = 0;
  bool more = true;
  while (more) {
    const size_t nl = text.find('\n', pos);
    const std::string_view line =
        Trim(text.substr(pos, nl == std::string_view::npos ? nl : nl - pos));
    more = nl != std::string_view::npos;
    pos = more ? nl + 1 : text.size();
    ++number;
    if (line.empty() || line.front() == '#') continue;
    auto fail = [&](std::string msg) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("{}:{}: {}", file_name, number, msg));
    };
    std::vector<std::string_view> fields = Split(line, ',');
    if (first_content) {
      first_content = false;
      if (fields.size() == 3 && fields[0] == "site_id" && fields[1] == "region" &&
          fields[2] == "enrollment_key") {
        continue;
      }
    }
    if (fields.size() != 3) {
      return fail(
          fmt::format("expected 3 comma-separated fields (site_id,region,enrollment_key), "
                      "found {}",
                      fields.size()));
    }
    if (auto s = ValidateSiteId(fields[0]); !s) return fail(s.error().message);
    if (auto s = ValidateRegion(fields[1]); !s) return fail(s.error().message);
    if (fields[2].empty()) {
      return fail("the enrollment key path is empty: give the path of the site's enrollment.pub");
    }
    auto [it, inserted] = seen.emplace(std::string(fields[0]), number);
    if (!inserted) {
      return fail(fmt::format("site {} is already listed at line {}: list each site once",
                              fields[0], it->second));
    }
    out.push_back(
        BatchLine{number, std::string(fields[0]), std::string(fields[1]), std::string(fields[2])});
  }
  if (out.empty()) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        fmt::format("{}: no sites: add lines 'site_id,region,enrollment_key'", file_name));
  }
  return out;
}

Result<std::vector<SiteRequest>> LoadBatchFile(const std::string& path, FileSystem& fs) {
  VIGIE_ASSIGN_OR_RETURN(std::string text, fs.ReadFile(path));
  VIGIE_ASSIGN_OR_RETURN(std::vector<BatchLine> lines, ParseBatchFile(text, path));
  const std::string dir = Dirname(path);
  std::vector<SiteRequest> out;
  for (const auto& line : lines) {
    std::string key_path = line.enrollment_key_path;
    if (key_path.front() != '/') key_path = dir + "/" + key_path;
    auto key = package::LoadEnrollmentPublicKey(key_path, fs);
    if (!key) {
      return tl::unexpected(
          Error{key.error().code, fmt::format("{}:{}: enrollment key {}: {}", path, line.line,
                                              key_path, key.error().message)});
    }
    out.push_back(SiteRequest{line.site_id, line.region, *key});
  }
  return out;
}

std::string RenderProgressBar(size_t done, size_t total, std::string_view site, int width) {
  const size_t cells = static_cast<size_t>(width);
  const size_t filled = total == 0 ? cells : std::min(cells, done * cells / total);
  return fmt::format("[{}{}] {}/{} {}", std::string(filled, '#'), std::string(cells - filled, '.'),
                     done, total, site);
}

}  // namespace vigie::provision
