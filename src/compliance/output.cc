#include "compliance/output.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

namespace vigie::compliance {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Copies `in`, replacing every invalid UTF-8 sequence (overlong, surrogate, truncated, > U+10FFFF)
// by U+FFFD, so every renderer emits valid UTF-8 whatever a check wrote.
std::string ValidUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    auto b = static_cast<uint8_t>(in[i]);
    size_t len = b < 0x80           ? 1
                 : (b >> 5) == 0x6  ? 2
                 : (b >> 4) == 0xE  ? 3
                 : (b >> 3) == 0x1E ? 4
                                    : 0;
    bool ok = len != 0 && i + len <= in.size();
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; ok && k < len; ++k) {
      auto c = static_cast<uint8_t>(in[i + k]);
      if ((c & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (ok) {
      ok = (len == 1) || (len == 2 && cp >= 0x80) ||
           (len == 3 && cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) ||
           (len == 4 && cp >= 0x10000 && cp <= 0x10FFFF);
    }
    if (ok) {
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

std::string Pad(std::string_view s, size_t width) {
  std::string out(s);
  size_t w = Width(s);
  if (w < width) out.append(width - w, ' ');
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

std::string TestcaseName(const RuleReport& rule, const std::string& site) {
  std::string name(rule.info.id);
  if (!site.empty()) name += "[" + site + "]";
  return name;
}

}  // namespace

std::string RenderText(const Report& report, bool color) {
  struct Row {
    std::string id, title, site, summary;
    Status status;
  };
  std::vector<Row> rows;
  size_t title_width = std::string_view("TITLE").size();
  size_t site_width = std::string_view("SITE").size();
  for (const RuleReport& rule : report.rules) {
    title_width = std::max(title_width, std::min(Width(rule.info.title), kMaxTitleWidth));
    for (const auto& [site, result] : rule.results) {
      Row row{std::string(rule.info.id), std::string(rule.info.title),
              site.empty() ? "-" : OneLine(site), OneLine(result.summary), result.status};
      site_width = std::max(site_width, Width(row.site));
      rows.push_back(std::move(row));
    }
  }

  std::string out = fmt::format("vigie compliance check, evidence as of {}\n\n",
                                FormatRfc3339(report.generated_at));
  constexpr size_t kIdWidth = 9;      // "MAINT_001"
  constexpr size_t kStatusWidth = 6;  // "STATUS"
  out += fmt::format("{}  {}  {}  {}  EVIDENCE\n", Pad("RULE", kIdWidth), Pad("TITLE", title_width),
                     Pad("SITE", site_width), Pad("STATUS", kStatusWidth));
  for (const Row& row : rows) {
    std::string status = Pad(ShortStatus(row.status), kStatusWidth);
    if (color) status = std::string(Color(row.status)) + status + std::string(kReset);
    out += fmt::format("{}  {}  {}  {}  {}\n", Pad(row.id, kIdWidth),
                       Pad(Truncate(row.title, title_width), title_width),
                       Pad(row.site, site_width), status, row.summary);
  }
  const Totals& t = report.totals;
  out += fmt::format("\n{} rules, {} pass, {} fail, {} n/a\n", report.rules.size(), t.pass, t.fail,
                     t.not_applicable);
  return out;
}

std::string RenderJson(const Report& report) {
  using Json = nlohmann::ordered_json;
  Json rules = Json::array();
  for (const RuleReport& rule : report.rules) {
    Json results = Json::array();
    for (const auto& [site, result] : rule.results) {
      Json evidence = Json::object();
      for (const EvidenceItem& item : result.evidence) evidence[item.key] = item.value;
      results.push_back(Json{{"site", site},
                             {"status", StatusName(result.status)},
                             {"summary", result.summary},
                             {"remedy", result.remedy},
                             {"evidence", std::move(evidence)}});
    }
    rules.push_back(Json{{"id", rule.info.id},
                         {"title", rule.info.title},
                         {"section", rule.info.section},
                         {"scope", ScopeName(rule.info.scope)},
                         {"status", StatusName(rule.status())},
                         {"results", std::move(results)}});
  }
  Json doc{{"schema", "vigie.compliance.v1"},
           {"generated_at", FormatRfc3339(report.generated_at)},
           {"ok", report.ok()},
           {"totals",
            {{"pass", report.totals.pass},
             {"fail", report.totals.fail},
             {"not_applicable", report.totals.not_applicable}}},
           {"rules", std::move(rules)}};
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
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
  out += fmt::format(
      "<testsuites name=\"vigie compliance\" tests=\"{}\" failures=\"{}\" errors=\"0\" "
      "skipped=\"{}\" timestamp=\"{}\">\n",
      count("", any), count("", failed), count("", skipped), timestamp);
  for (std::string_view section : sections) {
    out += fmt::format(
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
        out += fmt::format("    <testcase name=\"{}\" classname=\"{}\">",
                           XmlEscape(TestcaseName(rule, site)), XmlEscape(classname));
        switch (result.status) {
          case Status::kFail:
            out += fmt::format("\n      <failure message=\"{}\" type=\"FAIL\">{}</failure>\n    ",
                               XmlEscape(result.summary), XmlEscape(details, false));
            break;
          case Status::kNotApplicable:
            out +=
                fmt::format("\n      <skipped message=\"{}\"/>\n    ", XmlEscape(result.summary));
            break;
          case Status::kPass:
            if (!details.empty()) {
              out += fmt::format("\n      <system-out>{}</system-out>\n    ",
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
