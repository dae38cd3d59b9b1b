#include "store/store.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>

namespace vigie::store {

namespace {

const std::vector<std::string>& EmptyColumns() {
  static const std::vector<std::string> kEmpty;
  return kEmpty;
}

tl::unexpected<Error> WrongType(std::string_view col, const Value& v, std::string_view wanted) {
  return MakeError(ErrorCode::kInternal,
                   fmt::format("column '{}' holds {}, not {}: the code does not match the schema",
                               col, ValueTypeName(v), wanted));
}

}  // namespace

std::string_view ValueTypeName(const Value& v) {
  switch (v.index()) {
    case 0:
      return "null";
    case 1:
      return "integer";
    case 2:
      return "real";
    case 3:
      return "text";
    case 4:
      return "blob";
  }
  return "unknown";
}

Row::Row(std::shared_ptr<const std::vector<std::string>> columns, std::vector<Value> values)
    : columns_(std::move(columns)), values_(std::move(values)) {}

const std::vector<std::string>& Row::columns() const {
  return columns_ ? *columns_ : EmptyColumns();
}

Result<const Value*> Row::Get(std::string_view col) const {
  const auto& cols = columns();
  for (size_t i = 0; i < cols.size() && i < values_.size(); ++i) {
    if (cols[i] == col) return &values_[i];
  }
  return MakeError(ErrorCode::kInternal, fmt::format("result has no column '{}' (columns: {})", col,
                                                     fmt::join(cols, ", ")));
}

Result<bool> Row::IsNull(std::string_view col) const {
  VIGIE_ASSIGN_OR_RETURN(const Value* v, Get(col));
  return std::holds_alternative<std::monostate>(*v);
}

Result<std::optional<int64_t>> Row::GetIntOrNull(std::string_view col) const {
  VIGIE_ASSIGN_OR_RETURN(bool null, IsNull(col));
  if (null) return std::optional<int64_t>();
  VIGIE_ASSIGN_OR_RETURN(int64_t v, GetInt(col));
  return std::optional<int64_t>(v);
}

Result<std::string> Row::GetTextOrEmpty(std::string_view col) const {
  VIGIE_ASSIGN_OR_RETURN(bool null, IsNull(col));
  if (null) return std::string();
  return GetText(col);
}

Result<int64_t> Row::GetInt(std::string_view col) const {
  VIGIE_ASSIGN_OR_RETURN(const Value* v, Get(col));
  if (const auto* i = std::get_if<int64_t>(v)) return *i;
  return WrongType(col, *v, "integer");
}

Result<double> Row::GetDouble(std::string_view col) const {
  VIGIE_ASSIGN_OR_RETURN(const Value* v, Get(col));
  if (const auto* d = std::get_if<double>(v)) return *d;
  if (const auto* i = std::get_if<int64_t>(v)) return static_cast<double>(*i);
  return WrongType(col, *v, "real");
}

Result<std::string> Row::GetText(std::string_view col) const {
  VIGIE_ASSIGN_OR_RETURN(const Value* v, Get(col));
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  return WrongType(col, *v, "text");
}

Result<Bytes> Row::GetBlob(std::string_view col) const {
  VIGIE_ASSIGN_OR_RETURN(const Value* v, Get(col));
  if (const auto* b = std::get_if<Bytes>(v)) return *b;
  return WrongType(col, *v, "blob");
}

std::string SqlSummary(std::string_view sql) {
  constexpr size_t kMaxChars = 40;
  constexpr int kMaxWords = 3;
  std::string out;
  int words = 0;
  size_t i = 0;
  while (i < sql.size() && words < kMaxWords) {
    while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
    if (i >= sql.size()) break;
    size_t start = i;
    // A word ends at whitespace or at punctuation that starts a value list / expression, so
    // "INSERT INTO kv(key, value)" gives "INSERT INTO kv".
    while (i < sql.size() && !std::isspace(static_cast<unsigned char>(sql[i])) && sql[i] != '(' &&
           sql[i] != ',' && sql[i] != ';' && sql[i] != '\'' && sql[i] != '"') {
      ++i;
    }
    if (i == start) break;
    if (!out.empty()) out += ' ';
    out.append(sql.substr(start, i - start));
    ++words;
  }
  if (out.size() > kMaxChars) out = out.substr(0, kMaxChars) + "...";
  return out;
}

}  // namespace vigie::store
