#include "compliance/output.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string_view>

namespace vigie::compliance {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence starting at in[i] (1 to 4 bytes), or 0 when the bytes
// there are not one (overlong, surrogate, truncated, > U+10FFFF, stray continuation byte).
size_t Utf8SequenceLength(std::string_view in, size_t i) {
  auto b = static_cast<uint8_t>(in[i]);
  size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > in.size()) return 0;
  uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
  for (size_t k = 1; k < len; ++k) {
    auto c = static_cast<uint8_t>(in[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  bool ok = (len == 1) || (len == 2 && cp >= 0x80) ||
            (len == 3 && cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) ||
            (len == 4 && cp >= 0x10000 && cp <= 0x10FFFF);
  return ok ? len : 0;
}

bool IsAscii(std::string_view in) {
  return std::all_of(in.begin(), in.end(), [](char c) { return static_cast<uint8_t>(c) < 0x80; });
}

// Copies `in`, replacing every invalid UTF-8 sequence (overlong, surrogate, truncated, > U+10FFFF)
// by U+FFFD, so every renderer emits valid UTF-8 whatever a check wrote.
std::string ValidUtf8(std::string_view in) {
  if (IsAscii(in)) return std::string(in);
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    size_t len = Utf8SequenceLength(in, i);
    if (len != 0) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out.append(kReplacement);
      ++i;
    }
  }
  return out;
}

// One line of printable text: valid UTF-8, control characters (ESC included, so a check cannot
// inject terminal sequences) replaced, whitespace runs as single spaces.
std::string OneLine(std::string_view in) {
  std::string out;
  for (char c : ValidUtf8(in)) {
    auto u = static_cast<uint8_t>(c);
    if (c == '\n' || c == '\r' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else if (u < 0x20 || u == 0x7F) {
      out += '?';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// Display columns of valid UTF-8 text, counting one per code point (good enough for the Latin
// text vigie prints).
size_t Width(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<uint8_t>(c) & 0xC0) != 0x80; }));
}

// `s` cut to at most `width` columns, ending with "..." when cut.
std::string Truncate(std::string_view s, size_t width) {
  if (Width(s) <= width) return std::string(s);
  size_t keep = width > 3 ? width - 3 : 0;
  size_t cols = 0;
  size_t i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<uint8_t>(s[i]) & 0xC0) != 0x80) {
      if (cols == keep) break;
      ++cols;
    }
  }
  return std::string(s.substr(0, i)) + std::string("...").substr(0, width - keep);
}

// Appends `s` and spaces up to `width` columns.
void AppendPadded(std::string& out, std::string_view s, size_t width) {
  out += s;
  size_t w = Width(s);
  if (w < width) out.append(width - w, ' ');
}

std::string Pad(std::string_view s, size_t width) {
  std::string out;
  AppendPadded(out, s, width);
  return out;
}

std::string_view ShortStatus(Status status) {
  switch (status) {
    case Status::kPass:
      return "PASS";
    case Status::kFail:
      return "FAIL";
    case Status::kNotApplicable:
      return "N/A";
  }
  return "FAIL";
}

std::string_view Color(Status status) {
  switch (status) {
    case Status::kPass:
      return "\x1b[32m";
    case Status::kFail:
      return "\x1b[31m";
    case Status::kNotApplicable:
      return "\x1b[33m";
  }
  return "";
}
constexpr std::string_view kReset = "\x1b[0m";
constexpr size_t kMaxTitleWidth = 40;
constexpr size_t kIdWidth = 9;      // "MAINT_001"
constexpr size_t kStatusWidth = 6;  // "STATUS"

// Escapes `in` for XML 1.0 attribute values (`attribute`, where line breaks must be character
// references to survive attribute normalisation) or element content.
std::string XmlEscape(std::string_view in, bool attribute = true) {
  std::string out;
  for (char c : ValidUtf8(in)) {
    auto u = static_cast<uint8_t>(c);
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\n':
        out += "&#10;";
        break;
      case '\r':
        out += "&#13;";
        break;
      case '\t':
        out += "&#9;";
        break;
      default:
        // Other C0 controls cannot appear in XML 1.0, not even as character references.
        out += (u < 0x20 || u == 0x7F) ? '?' : c;
    }
  }
  return out;
}

// Appends `in` as a JSON string literal exactly as nlohmann::json's serializer writes it with
// ensure_ascii = false and error_handler_t::replace: the short escapes \b \t \n \f \r \" \\,
// other C0 controls as \u00xx, everything else (valid UTF-8 included) as is. A string holding
// invalid UTF-8 (rare: checks write UTF-8) is handed to nlohmann itself, whose replacement of
// invalid sequences by U+FFFD is the reference.
void AppendJsonString(std::string& out, std::string_view in) {
  const size_t start = out.size();
  out += '"';
  size_t i = 0;
  while (i < in.size()) {
    // Copy the longest run of bytes that need no escape and are ASCII.
    size_t run = i;
    while (run < in.size()) {
      auto u = static_cast<uint8_t>(in[run]);
      if (u < 0x20 || u >= 0x80 || u == '"' || u == '\\') break;
      ++run;
    }
    out.append(in.data() + i, run - i);
    i = run;
    if (i == in.size()) break;
    auto u = static_cast<uint8_t>(in[i]);
    if (u >= 0x80) {
      size_t len = Utf8SequenceLength(in, i);
      if (len == 0) {
        out.resize(start);
        out += nlohmann::ordered_json(in).dump(-1, ' ', false,
                                               nlohmann::ordered_json::error_handler_t::replace);
        return;
      }
      out.append(in.data() + i, len);
      i += len;
      continue;
    }
    switch (u) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        fmt::format_to(std::back_inserter(out), "\\u{:04x}", u);
    }
    ++i;
  }
  out += '"';
}

std::string TestcaseName(const RuleReport& rule, const std::string& site) {
  std::string name(rule.info.id);
  if (!site.empty()) name += "[" + site + "]";
  return name;
}

}  // namespace

std::string RenderText(const Report& report, bool color) {
  struct Row {
    std::string_view id, title;
    std::string site, summary;
    Status status;
  };
  std::vector<Row> rows;
  size_t results = 0;
  for (const RuleReport& rule : report.rules) results += rule.results.size();
  rows.reserve(results);
  size_t title_width = std::string_view("TITLE").size();
  size_t site_width = std::string_view("SITE").size();
  for (const RuleReport& rule : report.rules) {
    title_width = std::max(title_width, std::min(Width(rule.info.title), kMaxTitleWidth));
    for (const auto& [site, result] : rule.results) {
      Row row{rule.info.id, rule.info.title, site.empty() ? "-" : OneLine(site),
              OneLine(result.summary), result.status};
      site_width = std::max(site_width, Width(row.site));
      rows.push_back(std::move(row));
    }
  }

  std::string out = fmt::format("vigie compliance check, evidence as of {}\n\n",
                                FormatRfc3339(report.generated_at));
  out.reserve(out.size() + rows.size() * (kIdWidth + title_width + site_width + 80));
  AppendPadded(out, "RULE", kIdWidth);
  out += "  ";
  AppendPadded(out, "TITLE", title_width);
  out += "  ";
  AppendPadded(out, "SITE", site_width);
  out += "  ";
  AppendPadded(out, "STATUS", kStatusWidth);
  out += "  EVIDENCE\n";
  std::string_view title_of;  // the rule whose padded title is `title`
  std::string title;
  for (const Row& row : rows) {
    if (row.title.data() != title_of.data() || row.title.size() != title_of.size()) {
      title_of = row.title;
      title = Pad(Truncate(row.title, title_width), title_width);
    }
    AppendPadded(out, row.id, kIdWidth);
    out += "  ";
    out += title;
    out += "  ";
    AppendPadded(out, row.site, site_width);
    out += "  ";
    if (color) out += Color(row.status);
    AppendPadded(out, ShortStatus(row.status), kStatusWidth);
    if (color) out += kReset;
    out += "  ";
    out += row.summary;
    out += '\n';
  }
  const Totals& t = report.totals;
  fmt::format_to(std::back_inserter(out), "\n{} rules, {} pass, {} fail, {} n/a\n",
                 report.rules.size(), t.pass, t.fail, t.not_applicable);
  return out;
}

std::string RenderJson(const Report& report) {
  // Written directly (no DOM: a report over 10,000 sites has 400,000 results), byte for byte as
  // nlohmann::ordered_json::dump(2, ' ', false, replace) prints the same document.
  std::string out;
  size_t results = 0;
  for (const RuleReport& rule : report.rules) results += rule.results.size();
  out.reserve(512 + results * 400);
  out += "{\n  \"schema\": \"vigie.compliance.v1\",\n  \"generated_at\": ";
  AppendJsonString(out, FormatRfc3339(report.generated_at));
  out += ",\n  \"ok\": ";
  out += report.ok() ? "true" : "false";
  fmt::format_to(std::back_inserter(out),
                 ",\n  \"totals\": {{\n    \"pass\": {},\n    \"fail\": {},\n    "
                 "\"not_applicable\": {}\n  }},\n  \"rules\": ",
                 report.totals.pass, report.totals.fail, report.totals.not_applicable);
  if (report.rules.empty()) {
    out += "[]\n}\n";
    return out;
  }
  out += "[\n";
  // Evidence keys as an ordered_json object holds them: first occurrence order, last value.
  std::vector<std::pair<std::string_view, std::string_view>> evidence;
  for (size_t r = 0; r < report.rules.size(); ++r) {
    const RuleReport& rule = report.rules[r];
    out += "    {\n      \"id\": ";
    AppendJsonString(out, rule.info.id);
    out += ",\n      \"title\": ";
    AppendJsonString(out, rule.info.title);
    out += ",\n      \"section\": ";
    AppendJsonString(out, rule.info.section);
    out += ",\n      \"scope\": ";
    AppendJsonString(out, ScopeName(rule.info.scope));
    out += ",\n      \"status\": ";
    AppendJsonString(out, StatusName(rule.status()));
    out += ",\n      \"results\": ";
    if (rule.results.empty()) {
      out += "[]";
    } else {
      out += "[\n";
      for (size_t i = 0; i < rule.results.size(); ++i) {
        const auto& [site, result] = rule.results[i];
        out += "        {\n          \"site\": ";
        AppendJsonString(out, site);
        out += ",\n          \"status\": ";
        AppendJsonString(out, StatusName(result.status));
        out += ",\n          \"summary\": ";
        AppendJsonString(out, result.summary);
        out += ",\n          \"remedy\": ";
        AppendJsonString(out, result.remedy);
        out += ",\n          \"evidence\": ";
        evidence.clear();
        for (const EvidenceItem& item : result.evidence) {
          auto same = std::find_if(evidence.begin(), evidence.end(),
                                   [&](const auto& e) { return e.first == item.key; });
          if (same != evidence.end()) {
            same->second = item.value;
          } else {
            evidence.emplace_back(item.key, item.value);
          }
        }
        if (evidence.empty()) {
          out += "{}";
        } else {
          out += "{\n";
          for (size_t k = 0; k < evidence.size(); ++k) {
            out += "            ";
            AppendJsonString(out, evidence[k].first);
            out += ": ";
            AppendJsonString(out, evidence[k].second);
            out += k + 1 < evidence.size() ? ",\n" : "\n";
          }
          out += "          }";
        }
        out += i + 1 < rule.results.size() ? "\n        },\n" : "\n        }\n";
      }
      out += "      ]";
    }
    out += r + 1 < report.rules.size() ? "\n    },\n" : "\n    }\n";
  }
  out += "  ]\n}\n";
  return out;
}

std::string RenderJunit(const Report& report) {
  // Sections in first-appearance order (the catalog order).
  std::vector<std::string_view> sections;
  for (const RuleReport& rule : report.rules) {
    if (std::find(sections.begin(), sections.end(), rule.info.section) == sections.end()) {
      sections.push_back(rule.info.section);
    }
  }
  auto count = [&](std::string_view section, auto pred) {
    int n = 0;
    for (const RuleReport& rule : report.rules) {
      if (!section.empty() && rule.info.section != section) continue;
      for (const auto& entry : rule.results) n += pred(entry.second) ? 1 : 0;
    }
    return n;
  };
  auto any = [](const CheckResult&) { return true; };
  auto failed = [](const CheckResult& r) { return r.status == Status::kFail; };
  auto skipped = [](const CheckResult& r) { return r.status == Status::kNotApplicable; };

  std::string timestamp = FormatRfc3339(report.generated_at);
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  fmt::format_to(std::back_inserter(out),
                 "<testsuites name=\"vigie compliance\" tests=\"{}\" failures=\"{}\" errors=\"0\" "
                 "skipped=\"{}\" timestamp=\"{}\">\n",
                 count("", any), count("", failed), count("", skipped), timestamp);
  for (std::string_view section : sections) {
    fmt::format_to(
        std::back_inserter(out),
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" "
        "timestamp=\"{}\">\n",
        XmlEscape(section), count(section, any), count(section, failed), count(section, skipped),
        timestamp);
    std::string classname = "vigie.compliance." + SectionSlug(section);
    for (const RuleReport& rule : report.rules) {
      if (rule.info.section != section) continue;
      for (const auto& [site, result] : rule.results) {
        std::string details;
        if (!result.remedy.empty()) details += "remedy: " + result.remedy + "\n";
        for (const EvidenceItem& item : result.evidence) {
          details += item.key + "=" + item.value + "\n";
        }
        fmt::format_to(std::back_inserter(out), "    <testcase name=\"{}\" classname=\"{}\">",
                       XmlEscape(TestcaseName(rule, site)), XmlEscape(classname));
        switch (result.status) {
          case Status::kFail:
            fmt::format_to(std::back_inserter(out),
                           "\n      <failure message=\"{}\" type=\"FAIL\">{}</failure>\n    ",
                           XmlEscape(result.summary), XmlEscape(details, false));
            break;
          case Status::kNotApplicable:
            fmt::format_to(std::back_inserter(out), "\n      <skipped message=\"{}\"/>\n    ",
                           XmlEscape(result.summary));
            break;
          case Status::kPass:
            if (!details.empty()) {
              fmt::format_to(std::back_inserter(out), "\n      <system-out>{}</system-out>\n    ",
                             XmlEscape(details, false));
            }
            break;
        }
        out += "</testcase>\n";
      }
    }
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  return out;
}

}  // namespace vigie::compliance
