#include "backend/aws/aws_common.h"

#include <fmt/format.h>

#include <cctype>
#include <cstdio>
#include <ctime>

#include "base/encoding.h"
#include "base/secret.h"
#include "cloud/sigv4.h"

namespace vigie::backend::aws_internal {

QueryForm::QueryForm(std::string_view action, std::string_view version) : action_(action) {
  Add("Action", action);
  Add("Version", version);
}

QueryForm& QueryForm::Add(std::string_view key, std::string_view value) {
  if (!body_.empty()) body_ += '&';
  body_ += cloud::SigV4UriEncode(key, false);
  body_ += '=';
  body_ += cloud::SigV4UriEncode(value, false);
  return *this;
}

std::string AwsCodeOf(const Error& error) {
  std::string_view m = error.message;
  if (!m.starts_with("aws ")) return "";
  size_t sep = m.find(": ");
  if (sep == std::string_view::npos) return "";
  m.remove_prefix(sep + 2);
  size_t end = 0;
  while (end < m.size() &&
         (std::isalnum(static_cast<unsigned char>(m[end])) || m[end] == '.' || m[end] == '_')) {
    ++end;
  }
  return std::string(m.substr(0, end));
}

Error Recode(Error error, ErrorCode code, std::string_view hint) {
  error.code = code;
  if (!hint.empty()) error.message += fmt::format("; {}", hint);
  return error;
}

Result<nlohmann::json> CallJson(const cloud::AwsClient& client, std::string_view service,
                                std::string_view region, std::string_view target, std::string body,
                                bool wipe_reply) {
  auto response = client.Call(
      service, region, "POST", "/", "",
      {{"X-Amz-Target", std::string(target)}, {"Content-Type", kJsonContentType}}, std::move(body));
  if (!response) return tl::unexpected(std::move(response).error());
  nlohmann::json j = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  const bool empty = response->body.find_first_not_of(" \t\r\n") == std::string::npos;
  if (wipe_reply) WipeString(response->body);
  if (empty || j.is_null()) return nlohmann::json::object();
  if (!j.is_object()) {
    if (wipe_reply) WipeJson(j);
    return MakeError(ErrorCode::kUnavailable,
                     fmt::format("aws {} {}: the reply (HTTP {}) is not a JSON object; check that "
                                 "the endpoint is AWS or a compatible emulator",
                                 service, target.substr(target.rfind('.') + 1), response->status));
  }
  return j;
}

std::string JsonWithSecretField(const nlohmann::json& fields, std::string_view key,
                                const SecretBytes& value) {
  const std::string head = fields.dump();  // "{...}"
  std::string b64 = Base64Encode(value.span());
  const std::string quoted_key = nlohmann::json(std::string(key)).dump();
  std::string body;
  body.reserve(head.size() + 1 + quoted_key.size() + 1 + b64.size() + 3);
  body.append(head, 0, head.size() - 1);
  if (head.size() > 2) body += ',';
  body += quoted_key;
  body += ":\"";
  body += b64;
  body += "\"}";
  WipeString(b64);
  return body;
}

Result<SecretBytes> SecretFromBase64(std::string_view b64, std::string_view what) {
  auto bytes = Base64Decode(b64);
  if (!bytes) {
    return MakeError(ErrorCode::kIntegrity, fmt::format("{} is not valid base64", what));
  }
  SecretBytes out = SecretBytes::CopyFrom(*bytes);
  WipeBytes(bytes->data(), bytes->size());
  return out;
}

void WipeJson(nlohmann::json& j) {
  if (j.is_string()) {
    WipeString(j.get_ref<std::string&>());
  } else if (j.is_structured()) {
    for (auto& child : j) WipeJson(child);
  }
}

namespace {
const nlohmann::json* Member(const nlohmann::json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}
}  // namespace

std::string JsonString(const nlohmann::json& j, std::string_view key) {
  const nlohmann::json* m = Member(j, key);
  return m != nullptr && m->is_string() ? m->get<std::string>() : "";
}

bool JsonBool(const nlohmann::json& j, std::string_view key) {
  const nlohmann::json* m = Member(j, key);
  return m != nullptr && m->is_boolean() && m->get<bool>();
}

int64_t JsonInt(const nlohmann::json& j, std::string_view key) {
  const nlohmann::json* m = Member(j, key);
  if (m == nullptr || !m->is_number()) return 0;
  return m->is_number_float() ? static_cast<int64_t>(m->get<double>()) : m->get<int64_t>();
}

std::optional<WallTime> JsonTime(const nlohmann::json& j, std::string_view key) {
  const nlohmann::json* m = Member(j, key);
  if (m == nullptr) return std::nullopt;
  if (m->is_number()) {
    double seconds = m->get<double>();
    return WallTime(
        std::chrono::duration_cast<WallTime::duration>(std::chrono::duration<double>(seconds)));
  }
  if (m->is_string()) {
    auto t = ParseIso8601(m->get<std::string>());
    if (t) return *t;
  }
  return std::nullopt;
}

Result<WallTime> ParseIso8601(std::string_view text) {
  auto bad = [&] {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("'{}' is not an ISO 8601 UTC time (YYYY-MM-DDThh:mm:ss[.f]Z)",
                                 text.substr(0, 64)));
  };
  // The fixed part, then optional fraction, then the zone.
  if (text.size() < 20) return bad();
  auto digits = [&](size_t pos, size_t n, int& out) {
    out = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  std::tm tm{};
  int year, month, day, hour, minute, second;
  if (!digits(0, 4, year) || text[4] != '-' || !digits(5, 2, month) || text[7] != '-' ||
      !digits(8, 2, day) || (text[10] != 'T' && text[10] != 't' && text[10] != ' ') ||
      !digits(11, 2, hour) || text[13] != ':' || !digits(14, 2, minute) || text[16] != ':' ||
      !digits(17, 2, second)) {
    return bad();
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return bad();
  }
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int64_t scale = 100000000;
    size_t start = pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      nanos += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad();
  }
  std::string_view zone = text.substr(pos);
  if (zone != "Z" && zone != "z" && zone != "+00:00") return bad();
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  time_t t = timegm(&tm);
  return FromUnixSeconds(static_cast<int64_t>(t)) +
         std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(nanos));
}

}  // namespace vigie::backend::aws_internal
