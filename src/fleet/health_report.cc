#include "fleet/health_report.h"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

namespace vigie::fleet {
namespace {

using nlohmann::json;

// The parse builds no DOM. Two SAX parsers can feed the same handler (ReportReader), which keeps,
// for the few fields the report's shape needs, what the LAST occurrence of each key held (a DOM
// keeps the last value of a duplicated key):
//  - RapidJSON's rapidjson::Reader first (strict: UTF-8 validated, iterative, no extensions),
//    ~3x cheaper than nlohmann's lexer, which copies every byte into two token buffers and runs
//    strtod on every float. It reads every report the agent writes.
//  - nlohmann::json::sax_parse whenever RapidJSON reports an error, or its verdict might differ
//    from nlohmann's (RapidJsonEvents returns false there): from scratch, with a fresh handler.
//    nlohmann's verdict and texts are the reference: the former DOM-based parser used them, so
//    every rejected body gets nlohmann's message and byte offset, and RapidJSON never accepts
//    what nlohmann rejects (RapidJSON 1.1.0 is laxer on a lone low surrogate escape and may be
//    on a number near DBL_MAX; those, and bytes left after a NUL, are sent to nlohmann).
// This parser accepts and rejects exactly what the former DOM-based one did, with the same
// messages: health_report_test.cc compares both. The checks then run in the former order, after
// the whole body parsed (a syntax error anywhere wins over a shape error).

// The JSON type a field held (kMissing: the key was absent).
enum class Kind : uint8_t { kMissing, kNull, kBool, kNumber, kString, kArray, kObject };

// {"ok": bool, "sealed": bool, ...} of disk, memory, cpu, vault and each service.
struct Component {
  Kind kind = Kind::kMissing;
  Kind ok = Kind::kMissing;
  bool ok_value = false;
  Kind sealed = Kind::kMissing;
  bool sealed_value = false;
};

struct Service {
  std::string name;
  uint32_t seq = 0;  // order of appearance: the last of duplicated names counts
  Component component;
};

// A count of "metrics": absent, a non-negative integer (fits int64_t), or anything else.
enum class Count : uint8_t { kMissing, kValid, kInvalid };

struct Metrics {
  Kind kind = Kind::kMissing;
  Kind ok = Kind::kMissing;
  bool ok_value = false;
  Count families = Count::kMissing;
  int64_t families_value = 0;
  Count samples = Count::kMissing;
  int64_t samples_value = 0;
  Kind error = Kind::kMissing;
  std::string error_value;
};

// Where the next value goes (set by the key before it).
enum class Slot : uint8_t {
  kNone,  // an ignored key: its value (and anything nested in it) is skipped
  kVersion,
  kDisk,
  kMemory,
  kCpu,
  kServices,
  kVault,
  kMetrics,
  kOk,       // in a component
  kSealed,   // in a component
  kService,  // an entry of "services"
  kMetricsOk,
  kFamilies,
  kSamples,
  kError,
};

// The object being read; nesting the report does not look into is counted in skip_ instead.
enum class Context : uint8_t { kRoot, kTop, kComponent, kServices, kServiceEntry, kMetrics, kDone };

tl::unexpected<Error> Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

// The SAX interface of nlohmann::json::sax_parse. Every callback but parse_error returns true:
// the whole body is read before any shape check.
class ReportReader {
 public:
  bool null() { return Value(Kind::kNull); }
  bool boolean(bool v) { return Value(Kind::kBool, v); }
  bool number_integer(json::number_integer_t v) {
    return Value(Kind::kNumber, false, v >= 0, static_cast<int64_t>(v));
  }
  bool number_unsigned(json::number_unsigned_t v) {
    constexpr auto kMax = static_cast<json::number_unsigned_t>(std::numeric_limits<int64_t>::max());
    return Value(Kind::kNumber, false, v <= kMax, static_cast<int64_t>(v));
  }
  bool number_float(json::number_float_t /*v*/, const json::string_t& /*text*/) {
    return Value(Kind::kNumber);  // never a count: counts are integers
  }
  bool string(json::string_t& v) { return StringValue(v); }
  bool binary(json::binary_t& /*v*/) { return Value(Kind::kString); }  // not produced by JSON text

  bool start_object(std::size_t /*elements*/) {
    if (skip_ > 0) {
      ++skip_;
      return true;
    }
    if (context_ == Context::kRoot) {
      root_is_object_ = true;
      context_ = Context::kTop;
      return true;
    }
    Value(Kind::kObject);
    switch (slot_) {
      case Slot::kDisk:
      case Slot::kMemory:
      case Slot::kCpu:
      case Slot::kVault:
        component_ = &TopComponent(slot_);
        context_ = Context::kComponent;
        break;
      case Slot::kServices:
        context_ = Context::kServices;
        break;
      case Slot::kService:
        component_ = &services_.back().component;
        context_ = Context::kServiceEntry;
        break;
      case Slot::kMetrics:
        context_ = Context::kMetrics;
        break;
      default:
        skip_ = 1;
        break;
    }
    return true;
  }

  bool end_object() {
    if (skip_ > 0) {
      --skip_;
      return true;
    }
    switch (context_) {
      case Context::kComponent:
      case Context::kServices:
      case Context::kMetrics:
        context_ = Context::kTop;
        break;
      case Context::kServiceEntry:
        context_ = Context::kServices;
        break;
      default:
        context_ = Context::kDone;
        break;
    }
    return true;
  }

  bool start_array(std::size_t /*elements*/) {
    if (skip_ == 0) Value(Kind::kArray);
    ++skip_;  // arrays hold nothing the report reads
    return true;
  }

  bool end_array() {
    --skip_;
    return true;
  }

  bool key(json::string_t& k) { return Key(k); }

  // The same events with the text in place (RapidJsonEvents): a string's value, a number
  // (`count_ok`: an integer in [0, INT64_MAX], `n` its value), a key.
  bool StringValue(std::string_view v) { return Value(Kind::kString, false, false, 0, v); }
  bool Number(bool count_ok, int64_t n) { return Value(Kind::kNumber, false, count_ok, n); }
  bool Key(std::string_view name) {
    if (skip_ > 0) return true;
    switch (context_) {
      case Context::kTop:
        slot_ = name == "agent_version" ? Slot::kVersion
                : name == "disk"        ? Slot::kDisk
                : name == "memory"      ? Slot::kMemory
                : name == "cpu"         ? Slot::kCpu
                : name == "services"    ? Slot::kServices
                : name == "vault"       ? Slot::kVault
                : name == "metrics"     ? Slot::kMetrics
                                        : Slot::kNone;
        break;
      case Context::kComponent:
      case Context::kServiceEntry:
        slot_ = name == "ok" ? Slot::kOk : name == "sealed" ? Slot::kSealed : Slot::kNone;
        break;
      case Context::kServices: {
        if (services_.capacity() == 0) services_.reserve(8);
        Service& s = services_.emplace_back();
        s.name.assign(name);
        s.seq = next_seq_++;
        slot_ = Slot::kService;
        break;
      }
      case Context::kMetrics:
        slot_ = name == "ok"         ? Slot::kMetricsOk
                : name == "families" ? Slot::kFamilies
                : name == "samples"  ? Slot::kSamples
                : name == "error"    ? Slot::kError
                                     : Slot::kNone;
        break;
      default:
        slot_ = Slot::kNone;
        break;
    }
    return true;
  }

  // `ex` is a json::parse_error (syntax, with its byte offset) or a json::out_of_range (a number
  // too large for a double): the messages of the former json::parse catch clauses.
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const json::exception& ex) {
    if (const auto* pe = dynamic_cast<const json::parse_error*>(&ex)) {
      error_ = "malformed JSON at byte " + std::to_string(pe->byte) + ": " + pe->what();
    } else {
      error_ = std::string("malformed JSON: ") + ex.what();
    }
    return false;
  }

  // After sax_parse: the report, or the first error in the former DOM-based check order.
  Result<HealthReport> Finish(bool parsed) {
    if (!parsed) return Invalid(error_.empty() ? "malformed JSON" : std::move(error_));
    if (!root_is_object_) return Invalid("heartbeat report: must be a JSON object");
    if (version_kind_ != Kind::kString || version_.empty()) {
      return Invalid("heartbeat report: field agent_version must be a non-empty string");
    }
    HealthReport out;
    out.agent_version = std::move(version_);
    for (Slot slot : {Slot::kDisk, Slot::kMemory, Slot::kCpu}) {
      const char* name = slot == Slot::kDisk ? "disk" : slot == Slot::kMemory ? "memory" : "cpu";
      const Component& c = TopComponent(slot);
      if (c.kind == Kind::kMissing) {
        return Invalid(std::string("heartbeat report: missing field ") + name);
      }
      VIGIE_RETURN_IF_ERROR(CheckComponent(c, "", name, /*vault=*/false, out));
    }
    if (services_kind_ != Kind::kObject || services_.empty()) {
      return Invalid(
          "heartbeat report: field services must be a non-empty object of the agent's services");
    }
    // A JSON object's members in key order (as the DOM's std::map iterated them), the last of a
    // duplicated key counting.
    std::sort(services_.begin(), services_.end(), [](const Service& a, const Service& b) {
      const int c = a.name.compare(b.name);
      return c != 0 ? c < 0 : a.seq < b.seq;
    });
    for (size_t i = 0; i < services_.size(); ++i) {
      if (i + 1 < services_.size() && services_[i + 1].name == services_[i].name) continue;
      VIGIE_RETURN_IF_ERROR(
          CheckComponent(services_[i].component, "services.", services_[i].name, false, out));
    }
    if (vault_.kind != Kind::kMissing && vault_.kind != Kind::kNull) {
      VIGIE_RETURN_IF_ERROR(CheckComponent(vault_, "", "vault", /*vault=*/true, out));
    }
    if (metrics_.kind != Kind::kMissing && metrics_.kind != Kind::kNull) {
      VIGIE_ASSIGN_OR_RETURN(out.metrics, CheckMetrics());
    }
    out.passed = out.failing.empty();
    return out;
  }

 private:
  Component& TopComponent(Slot slot) {
    switch (slot) {
      case Slot::kDisk:
        return disk_;
      case Slot::kMemory:
        return memory_;
      case Slot::kCpu:
        return cpu_;
      default:
        return vault_;
    }
  }

  // A value of type `kind` for slot_ (a start_object/start_array too, before its content).
  // `count_ok`/`n`: a non-negative integer and its value; `s`: the string's text (kString).
  bool Value(Kind kind, bool b = false, bool count_ok = false, int64_t n = 0,
             std::string_view s = {}) {
    if (skip_ > 0 || context_ == Context::kRoot) return true;  // a root scalar: not an object
    switch (slot_) {
      case Slot::kNone:
        break;
      case Slot::kVersion:
        version_kind_ = kind;
        if (kind == Kind::kString) version_.assign(s);
        break;
      case Slot::kDisk:
      case Slot::kMemory:
      case Slot::kCpu:
      case Slot::kVault:
        TopComponent(slot_) = Component{.kind = kind};
        break;
      case Slot::kServices:
        services_kind_ = kind;
        services_.clear();
        break;
      case Slot::kMetrics:
        metrics_ = Metrics{.kind = kind};
        break;
      case Slot::kOk:
        component_->ok = kind;
        component_->ok_value = b;
        break;
      case Slot::kSealed:
        component_->sealed = kind;
        component_->sealed_value = b;
        break;
      case Slot::kService:
        services_.back().component = Component{.kind = kind};
        break;
      case Slot::kMetricsOk:
        metrics_.ok = kind;
        metrics_.ok_value = b;
        break;
      case Slot::kFamilies:
        metrics_.families = count_ok ? Count::kValid : Count::kInvalid;
        metrics_.families_value = n;
        break;
      case Slot::kSamples:
        metrics_.samples = count_ok ? Count::kValid : Count::kInvalid;
        metrics_.samples_value = n;
        break;
      case Slot::kError:
        metrics_.error = kind;
        if (kind == Kind::kString) metrics_.error_value.assign(s);
        break;
    }
    return true;
  }

  // `prefix` + `name` names the component ("services." + "nginx"); built only when needed.
  static Status CheckComponent(const Component& c, std::string_view prefix, std::string_view name,
                               bool vault, HealthReport& out) {
    auto full = [&] { return std::string(prefix).append(name); };
    if (c.kind != Kind::kObject) {
      return Invalid("heartbeat report: field " + full() + " must be an object");
    }
    if (c.ok != Kind::kBool) {
      return Invalid("heartbeat report: field " + full() + ".ok must be a boolean");
    }
    bool passed = c.ok_value;
    if (vault) {
      if (c.sealed != Kind::kBool) {
        return Invalid("heartbeat report: field vault.sealed must be a boolean");
      }
      if (c.sealed_value) passed = false;
    }
    if (!passed) out.failing.push_back(full());
    return OkStatus();
  }

  Result<MetricsReport> CheckMetrics() {
    auto bad = [](const char* what) {
      return Invalid(std::string("heartbeat report: field metrics") + what);
    };
    if (metrics_.kind != Kind::kObject)
      return bad(" must be an object {\"ok\", \"families\", ...}");
    if (metrics_.ok != Kind::kBool) return bad(".ok must be a boolean");
    if (metrics_.families != Count::kValid) return bad(".families must be a non-negative integer");
    if (metrics_.samples == Count::kInvalid) return bad(".samples must be a non-negative integer");
    MetricsReport m;
    m.ok = metrics_.ok_value;
    m.families = metrics_.families_value;
    if (metrics_.samples == Count::kValid) m.samples = metrics_.samples_value;
    if (metrics_.error != Kind::kMissing && metrics_.error != Kind::kNull) {
      if (metrics_.error != Kind::kString) return bad(".error must be a string");
      m.error = std::move(metrics_.error_value);
    }
    return m;
  }

  Context context_ = Context::kRoot;
  Slot slot_ = Slot::kNone;
  uint32_t skip_ = 0;               // depth inside a value the report does not read
  Component* component_ = nullptr;  // the component being read (kComponent, kServiceEntry)
  bool root_is_object_ = false;
  std::string error_;

  Kind version_kind_ = Kind::kMissing;
  std::string version_;
  Component disk_, memory_, cpu_, vault_;
  Kind services_kind_ = Kind::kMissing;
  std::vector<Service> services_;
  uint32_t next_seq_ = 0;
  Metrics metrics_;
};

// A lone low surrogate escape ("\udc00"): RapidJSON 1.1.0 decodes it to the UTF-8 bytes ED B0..BF
// where nlohmann rejects it (a lone high one both reject). Validated raw input never holds ED
// A0..BF, so in a decoded string those bytes can only come from such an escape.
bool HasEncodedSurrogate(std::string_view s) {
  for (size_t i = s.find('\xED'); i != std::string_view::npos; i = s.find('\xED', i + 1)) {
    if (i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0xA0) return true;
  }
  return false;
}

// RapidJSON's SAX handler concept, forwarding to `reader` the events nlohmann's sax_parse would
// send. Returning false aborts RapidJSON's parse (kParseErrorTermination) and hands the body to
// nlohmann: done wherever RapidJSON would accept what nlohmann rejects.
class RapidJsonEvents {
 public:
  // `escapes`: the body holds a backslash (else no string needs the surrogate check).
  RapidJsonEvents(ReportReader& reader, bool escapes) : reader_(reader), escapes_(escapes) {}

  bool Null() { return reader_.null(); }
  bool Bool(bool b) { return reader_.boolean(b); }
  // RapidJSON reports an integer literal (no fraction, no exponent) as Int/Uint/Int64/Uint64 when
  // it fits int64_t or uint64_t, as a Double otherwise: exactly nlohmann's number_integer /
  // number_unsigned / number_float split ("-0" is Int(0) and number_integer(0) alike).
  bool Int(int n) { return reader_.Number(n >= 0, n); }
  bool Uint(unsigned n) { return reader_.Number(true, n); }
  bool Int64(int64_t n) { return reader_.Number(n >= 0, n); }
  bool Uint64(uint64_t n) {
    constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    return reader_.Number(n <= kMax, static_cast<int64_t>(n));
  }
  // nlohmann rejects a number that overflows a double (its strtod gives inf); RapidJSON's
  // default, not correctly rounded, conversion may land either side near DBL_MAX: anything that
  // large is nlohmann's to judge.
  bool Double(double d) { return std::fabs(d) < 1e308 && reader_.Number(false, 0); }
  bool RawNumber(const char* /*s*/, rapidjson::SizeType /*n*/, bool /*copy*/) {
    return false;  // only with kParseNumbersAsStringsFlag, not used
  }
  bool String(const char* s, rapidjson::SizeType n, bool /*copy*/) {
    const std::string_view v(s, n);
    return !(escapes_ && HasEncodedSurrogate(v)) && reader_.StringValue(v);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool /*copy*/) {
    const std::string_view k(s, n);
    return !(escapes_ && HasEncodedSurrogate(k)) && reader_.Key(k);
  }
  bool StartObject() { return reader_.start_object(0); }
  bool EndObject(rapidjson::SizeType /*members*/) { return reader_.end_object(); }
  bool StartArray() { return reader_.start_array(0); }
  bool EndArray(rapidjson::SizeType /*elements*/) { return reader_.end_array(); }

 private:
  ReportReader& reader_;
  const bool escapes_;
};

// Iterative, so that nesting depth costs heap (RapidJSON's own stack), never C stack; no comments,
// NaN/Infinity or trailing commas; one root value followed only by whitespace (the default
// root-singular check). Non-ASCII input is UTF-8 validated (nlohmann rejects invalid UTF-8):
// RapidJSON validates through a call per character, a third of its time on the agent's report,
// which is plain ASCII, where validating changes nothing.
constexpr unsigned kRapidJsonFlags = rapidjson::kParseIterativeFlag;
constexpr unsigned kRapidJsonUtf8Flags = kRapidJsonFlags | rapidjson::kParseValidateEncodingFlag;

// RapidJSON's verdict, when it reads `body` into `reader` exactly as nlohmann would.
bool RapidJsonParse(std::string_view body, ReportReader& reader) {
  unsigned char bits = 0;
  for (const char c : body) bits |= static_cast<unsigned char>(c);  // vectorised
  const bool ascii = bits < 0x80;
  RapidJsonEvents events(reader, /*escapes=*/body.find('\\') != std::string_view::npos);
  rapidjson::MemoryStream stream(body.data(), body.size());
  rapidjson::Reader parser;
  const rapidjson::ParseResult result = ascii ? parser.Parse<kRapidJsonFlags>(stream, events)
                                              : parser.Parse<kRapidJsonUtf8Flags>(stream, events);
  // RapidJSON reads a NUL byte as the end of input (nlohmann's lexer does too, between tokens):
  // a body not consumed to its last byte is nlohmann's to judge.
  return !result.IsError() && stream.Tell() == body.size();
}

}  // namespace

Result<HealthReport> ParseHealthReport(std::string_view body) {
  {
    ReportReader reader;
    if (RapidJsonParse(body, reader)) return reader.Finish(true);
  }
  ReportReader reader;  // from scratch: RapidJSON may have stopped half-way
  const bool parsed = json::sax_parse(body.begin(), body.end(), &reader);
  return reader.Finish(parsed);
}

}  // namespace vigie::fleet
