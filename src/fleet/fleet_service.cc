#include "fleet/fleet_service.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backend/policy.h"
#include "base/encoding.h"
#include "base/log.h"
#include "crypto/hash.h"
#include "fleet/health_report.h"
#include "fleet/metrics_selfcheck.h"
#include "fleet/site_auth.h"

namespace vigie::fleet {
namespace {

using http::Responder;
using http::ServerRequest;
using http::ServerResponse;
using nlohmann::json;


ServerResponse JsonOk(const json& j) { return ServerResponse::Json(200, j.dump()); }

// kv key of the last healthcheck row id given (Impl::hc_last_id).
constexpr std::string_view kHealthcheckLastIdKey = "fleet.healthchecks.last_id";
// kv key of the pruning mark: every healthcheck row with an id at or below it is older than the
// retention, or one a licence relied on (FlushHealthchecks). Read and written inside the batch
// jobs, so it moves only with a committed pruning.
constexpr std::string_view kHealthcheckPrunedThroughKey = "fleet.healthchecks.pruned_through";
// kv key of the heartbeats_last mark: heartbeats_last.last_healthcheck_id accounts for every
// healthcheck id at or below it (FlushJob); LoadState reads the rows above it.
constexpr std::string_view kHeartbeatsLastThroughKey = "fleet.heartbeats_last.through_id";

// Sets one of the integer kv records above, inside `txn`.
Status PutKvInt(store::Txn& txn, std::string_view key, int64_t value) {
  return txn.Exec(
      "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
      "excluded.value",
      {std::string(key), value});
}

// Hash and equality for unordered containers keyed by std::string, looked up by string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// The signed parts of a site request as views into `req` (valid while `req` is): the first
// header of each name, as ServerRequest::Header() would return it, without copying.
SiteRequestView SiteRequestViewOf(const ServerRequest& req) {
  SiteRequestView v;
  v.method = req.method;
  v.path = req.path;
  if (auto it = req.params.find("id"); it != req.params.end()) v.path_site = it->second;
  bool site = false, timestamp = false, nonce = false, signature = false;
  for (const auto& [name, value] : req.headers) {
    if (!site && EqualsIgnoreAsciiCase(name, kSiteHeader)) {
      v.header_site = value;
      site = true;
    } else if (!timestamp && EqualsIgnoreAsciiCase(name, kTimestampHeader)) {
      v.timestamp = value;
      timestamp = true;
    } else if (!nonce && EqualsIgnoreAsciiCase(name, kNonceHeader)) {
      v.nonce = value;
      nonce = true;
    } else if (!signature && EqualsIgnoreAsciiCase(name, kSignatureHeader)) {
      v.signature = value;
      signature = true;
    }
  }
  v.body = req.body;
  return v;
}

// An owning copy of a site request, for the slow path (the secret is fetched on the worker and
// the ServerRequest is gone by then).
struct OwnedSiteRequest {
  std::string method, path, path_site, header_site, timestamp, nonce, signature, body;

  explicit OwnedSiteRequest(const SiteRequestView& v)
      : method(v.method),
        path(v.path),
        path_site(v.path_site),
        header_site(v.header_site),
        timestamp(v.timestamp),
        nonce(v.nonce),
        signature(v.signature),
        body(v.body) {}
  SiteRequestView View() const {
    return SiteRequestView{method, path, path_site, header_site, timestamp, nonce, signature, body};
  }
};

// The heartbeat reply, byte for byte what JsonOk({{"accepted", true}, {"passed", passed},
// {"failing", failing}}) writes (keys sorted), without building a DOM. The names come from a
// parsed report, so they are valid UTF-8; nlohmann's serializer escapes them.
std::string HeartbeatReply(bool passed, const std::vector<std::string>& failing) {
  std::string out = R"({"accepted":true,"failing":[)";
  for (size_t i = 0; i < failing.size(); ++i) {
    if (i != 0) out += ',';
    out += json(failing[i]).dump();
  }
  out += passed ? R"(],"passed":true})" : R"(],"passed":false})";
  return out;
}

// A single background thread for blocking work (Store::Write, Store::Query, SecretsBackend).
class Worker {
 public:
  Worker() : thread_([this] { Run(); }) {}
  ~Worker() { Stop(); }
  void Post(std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;  // the Responder copies are dropped: the client gets a 500
      queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      try {
        fn();
      } catch (const std::exception& e) {
        log::Error("fleet_worker_exception", {{"error", e.what()}});
      }
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

// One query-string component: %XX escapes and '+' (form encoding).
Result<std::string> DecodeQueryComponent(std::string_view s) {
  auto out = PercentDecode(s, /*plus_is_space=*/true);
  if (!out) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "GET /v1/compliance: malformed percent-encoding in the query string (" +
                         out.error().message + ")");
  }
  return out;
}

// GET /v1/compliance query: site=ID (at most once), rule=ID (repeatable); nothing else.
Result<ComplianceQuery> ParseComplianceQuery(std::string_view query) {
  ComplianceQuery q;
  bool have_site = false;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    VIGIE_ASSIGN_OR_RETURN(std::string key, DecodeQueryComponent(part.substr(0, eq)));
    VIGIE_ASSIGN_OR_RETURN(std::string value, DecodeQueryComponent(eq == std::string_view::npos
                                                                       ? std::string_view()
                                                                       : part.substr(eq + 1)));
    if (key == "site") {
      if (have_site) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "GET /v1/compliance: query parameter 'site' given twice; give one site, "
                         "or none for every site");
      }
      if (value.empty()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "GET /v1/compliance: query parameter 'site' is empty; give a site id, "
                         "or leave it out for every site");
      }
      have_site = true;
      q.site = std::move(value);
    } else if (key == "rule") {
      if (value.empty()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "GET /v1/compliance: query parameter 'rule' is empty; give a rule id "
                         "such as PROV_011 (repeat rule= for several)");
      }
      q.rules.push_back(std::move(value));
    } else {
      if (key.size() > 64) key = key.substr(0, 64) + "...";
      return MakeError(ErrorCode::kInvalidArgument,
                       "GET /v1/compliance: unknown query parameter '" + key +
                           "'; use site=ID and rule=ID (repeatable)");
    }
  }
  return q;
}

std::string RejectReason(const Error& e) {
  if (e.code == ErrorCode::kPermissionDenied) return "wrong_site";
  const std::string& m = e.message;
  if (m.rfind("stale timestamp", 0) == 0) return "stale_timestamp";
  if (m.rfind("replayed", 0) == 0) return "replayed";
  if (m.rfind("bad signature", 0) == 0) return "bad_signature";
  if (m.rfind("no credential", 0) == 0) return "unknown_site";
  return "bad_headers";
}

}  // namespace

struct FleetServer::Impl {
  FleetServerOptions options;
  FleetDeps deps;
  http::MetricsRegistry metrics;
  std::unique_ptr<WebhookNotifier> notifier;
  std::unique_ptr<AlertManager> alert_manager;
  std::unique_ptr<LivenessTracker> tracker;
  ReplayGuard replay;
  Worker worker;
  std::unique_ptr<http::HttpServer> server;

  crypto::Sha256Digest token_hash{};
  std::string token_path;
  SecretBytes generated_token;

  // What the server knows of one site. An entry is created when the site's secret is fetched
  // or its registration, licence or last heartbeat is loaded or recorded; entries are never
  // erased, so a pointer to one (and to its key) stays valid as long as the server.
  struct SiteState {
    // The agent API secret once fetched from the SecretsBackend: set once under mu, never reset
    // (so it may be read without mu once seen set).
    std::unique_ptr<const SecretBytes> secret;
    bool registered = false;
    bool licensed = false;
    bool seen = false;   // a heartbeat is known (received, or loaded from heartbeats_last)
    bool dirty = false;  // listed in dirty_sites: to flush into heartbeats_last
    int64_t last_seen = 0;
    std::optional<int64_t> last_pass_at;
    std::string report;
    // Id of the site's latest healthcheck row (0: none known): the one a licence decides on
    // (PROV_022). Given with the row, under mu; persisted in heartbeats_last.
    int64_t last_healthcheck_id = 0;
  };
  using SiteTable = std::unordered_map<std::string, SiteState, StringHash, std::equal_to<>>;
  using SiteEntry = SiteTable::value_type;

  // A healthcheck row waiting for the next batch (FlushHealthchecks).
  struct PendingHealthcheck {
    int64_t id;               // given in arrival order (hc_last_id)
    const std::string* site;  // key of a SiteTable entry (stable)
    int64_t received_at;
    bool passed;
    std::optional<std::string> report;  // stored as NULL when absent (see HandleHeartbeat)
  };

  // The cached agent secrets' memory (SiteState::secret): declared before the site table, so it
  // outlives every secret placed in it.
  SecretSlab secret_slab;

  // Guarded by mu.
  std::mutex mu;
  SiteTable sites;
  std::vector<SiteEntry*> dirty_sites;  // entries whose dirty flag is set
  size_t registered_count = 0;
  size_t licensed_count = 0;
  std::vector<PendingHealthcheck> hc_pending;
  // Set when the store refused the last batch: heartbeats get this error until a batch is
  // accepted again.
  std::optional<Error> hc_refused;

  // The last healthcheck row id given, guarded by mu: each heartbeat's row gets the next one as
  // it joins the pending batch, so ids follow arrival order, and a site's latest id is known at
  // once (SiteState::last_healthcheck_id). The batch jobs record the highest id they store in kv
  // (kHealthcheckLastIdKey), read back by LoadState: an id is never given twice, even once its
  // row was pruned. A batch that is rolled back leaves a gap.
  int64_t hc_last_id = 0;
  // The heartbeats_last mark the last FlushJob wrote (kHeartbeatsLastThroughKey), guarded by mu.
  int64_t heartbeats_last_through = -1;

  // Serialises FlushHealthchecks, so batches reach the store in the order their rows were
  // accepted (row ids follow arrival order: the licence check reads the latest by id).
  // Lock order: hc_flush_mu before mu.
  std::mutex hc_flush_mu;

  std::mutex flush_mu;
  bool stopped = false;
  std::unique_ptr<Timer> flush_timer;                     // heartbeats_last
  std::unique_ptr<Timer> hc_flush_timer;                  // healthcheck batches
  std::unique_ptr<MetricsSelfChecker> metrics_selfcheck;  // MAINT_003

  // Metrics.
  http::CounterFamily* heartbeats_received = nullptr;
  http::CounterFamily* heartbeats_rejected = nullptr;
  http::CounterFamily* healthcheck_store_failures = nullptr;
  http::Counter* heartbeats_received_total = nullptr;         // unlabelled series of the above
  http::Counter* healthcheck_store_failures_total = nullptr;  // idem
  http::HistogramFamily* latency = nullptr;
  // Latency series of the known routes, per status class, filled on first use: Observe() looks
  // them up without the family's mutex. Latency series are never removed (only gauge families
  // can be Replace()d), so the handles stay valid.
  struct RouteLatency {
    std::string method;
    std::string route;
    std::array<std::atomic<http::Histogram*>, 6> by_class{};  // index status / 100 (1..5)
  };
  std::vector<std::unique_ptr<RouteLatency>> route_latency;  // built before the server starts
  http::GaugeFamily* site_last = nullptr;
  http::GaugeFamily* site_state = nullptr;
  http::Gauge* registered_gauge = nullptr;
  http::Gauge* active_gauge = nullptr;
  http::Gauge* licensed_gauge = nullptr;

  // Compliance (compliance_feed.h); the metrics exist only with deps.compliance.
  http::GaugeFamily* compliance_status = nullptr;
  http::Gauge* compliance_last_evaluation = nullptr;
  http::CounterFamily* compliance_errors = nullptr;
  std::mutex compliance_eval_mu;               // one evaluator call at a time
  std::atomic<bool> compliance_queued{false};  // a periodic evaluation waits on the worker
  std::mutex compliance_mu;                    // guards the two below
  bool compliance_stopped = false;
  std::unique_ptr<Timer> compliance_timer;

  explicit Impl(FleetServerOptions o, FleetDeps d)
      : options(std::move(o)), deps(d), replay(options.replay_window) {}

  Clock& clock() { return *deps.env.clock; }

  // ---- setup -------------------------------------------------------------------------------
  Status SetupMetrics() {
    VIGIE_ASSIGN_OR_RETURN(
        heartbeats_received,
        metrics.AddCounter("vigie_heartbeats_received_total", "Heartbeats accepted from sites."));
    heartbeats_received_total = &heartbeats_received->Get();
    VIGIE_ASSIGN_OR_RETURN(heartbeats_rejected,
                           metrics.AddCounter("vigie_heartbeats_rejected_total",
                                              "Heartbeats rejected, by reason.", {"reason"}));
    for (const char* r : {"bad_headers", "bad_signature", "stale_timestamp", "replayed",
                          "wrong_site", "unknown_site", "malformed_report", "not_registered",
                          "store_unavailable"}) {
      heartbeats_rejected->With({r});
    }
    VIGIE_ASSIGN_OR_RETURN(
        healthcheck_store_failures,
        metrics.AddCounter("vigie_healthcheck_store_failures_total",
                           "Healthcheck rows acknowledged to a site whose commit then failed."));
    healthcheck_store_failures_total = &healthcheck_store_failures->Get();
    VIGIE_ASSIGN_OR_RETURN(
        latency, metrics.AddHistogram("vigie_http_request_duration_seconds",
                                      "HTTP request latency by method, route and status class.",
                                      {"method", "route", "code"}, http::DefaultLatencyBuckets()));
    VIGIE_ASSIGN_OR_RETURN(
        site_last, metrics.AddGauge("vigie_site_last_heartbeat_timestamp_seconds",
                                    "Unix time of the last heartbeat of each site.", {"site"}));
    VIGIE_ASSIGN_OR_RETURN(site_state,
                           metrics.AddGauge("vigie_site_liveness_state",
                                            "1 for the current liveness state of each site "
                                            "(ok, late, down), 0 for the others.",
                                            {"site", "state"}));
    VIGIE_ASSIGN_OR_RETURN(
        auto* reg, metrics.AddGauge("vigie_sites_registered", "Sites registered by their agent."));
    VIGIE_ASSIGN_OR_RETURN(
        auto* act,
        metrics.AddGauge("vigie_sites_active", "Registered sites whose heartbeats are on time."));
    VIGIE_ASSIGN_OR_RETURN(
        auto* lic, metrics.AddGauge("vigie_sites_licensed", "Sites with an activated licence."));
    registered_gauge = &reg->Get();
    active_gauge = &act->Get();
    licensed_gauge = &lic->Get();
    metrics.AddCollectHook([this] { Collect(); });
    return OkStatus();
  }

  void Collect() {
    size_t active = 0;
    std::set<std::string, std::less<>> reg;
    {
      std::lock_guard lock(mu);
      registered_gauge->Set(static_cast<double>(registered_count));
      licensed_gauge->Set(static_cast<double>(licensed_count));
      for (const auto& [site, st] : sites) {
        if (st.registered) reg.insert(site);
        // Only sites that did send a heartbeat (a registration alone is not one).
        if (st.seen) site_last->With({site}).Set(static_cast<double>(st.last_seen));
      }
    }
    tracker->ForEach([&](const std::string& site, const SiteLivenessInfo& info) {
      if (reg.count(site) == 0) return;
      for (SiteLiveness s : {SiteLiveness::kOk, SiteLiveness::kLate, SiteLiveness::kDown}) {
        site_state->With({site, std::string(SiteLivenessName(s))}).Set(info.state == s ? 1.0 : 0.0);
      }
      if (info.state == SiteLiveness::kOk) ++active;
    });
    active_gauge->Set(static_cast<double>(active));
  }

  void Observe(const http::RequestObservation& o) {
    const double seconds = std::chrono::duration<double>(o.duration).count();
    const int cls = o.status / 100;
    if (!o.route.empty() && cls >= 1 && cls <= 5) {
      for (const auto& r : route_latency) {
        if (r->route != o.route || r->method != o.method) continue;
        std::atomic<http::Histogram*>& slot = r->by_class[static_cast<size_t>(cls)];
        http::Histogram* h = slot.load(std::memory_order_acquire);
        if (h == nullptr) {
          h = &latency->With({r->method, r->route, std::to_string(cls) + "xx"});
          slot.store(h, std::memory_order_release);  // a racing thread stores the same handle
        }
        h->Observe(seconds);
        return;
      }
    }
    std::string route = o.route.empty() ? "unmatched" : std::string(o.route);
    std::string code = std::to_string(o.status / 100) + "xx";
    latency->With({std::string(o.method), route, code}).Observe(seconds);
  }

  Status SetupToken() {
    token_path = options.operator_token_file.empty() ? options.data_dir + "/fleet/operator.token"
                                                     : options.operator_token_file;
    FileSystem& fs = *deps.env.fs;
    std::string token;
    if (fs.Exists(token_path)) {
      VIGIE_ASSIGN_OR_RETURN(token, fs.ReadFile(token_path));
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
      if (token.size() < 32) {
        WipeBytes(token.data(), token.size());
        return MakeError(ErrorCode::kInvalidArgument,
                         "operator token file " + token_path +
                             " holds fewer than 32 characters: delete it to have a new token "
                             "generated at the next start");
      }
    } else {
      auto slash = token_path.rfind('/');
      if (slash != std::string::npos && slash > 0) {
        VIGIE_RETURN_IF_ERROR(fs.CreateDirs(token_path.substr(0, slash), 0700));
      }
      uint8_t raw[32];
      deps.env.random->Fill(raw);
      token = HexEncode(raw);
      WipeBytes(raw, sizeof raw);
      VIGIE_RETURN_IF_ERROR(fs.WriteFileAtomic(token_path, token + "\n", 0600));
      generated_token = SecretBytes::CopyFrom(token);
      log::Info("operator_token_generated", {{"path", token_path}});
    }
    token_hash = crypto::Sha256(AsBytes(token));
    WipeBytes(token.data(), token.size());
    return OkStatus();
  }

  Status LoadState() {
    VIGIE_ASSIGN_OR_RETURN(
        auto regs, deps.store->Query("SELECT site_id, registered_at FROM site_registrations"));
    VIGIE_ASSIGN_OR_RETURN(
        auto lasts, deps.store->Query("SELECT site_id, last_seen, last_report, last_pass_at, "
                                      "last_healthcheck_id FROM heartbeats_last"));
    VIGIE_ASSIGN_OR_RETURN(auto lics,
                           deps.store->Query("SELECT DISTINCT site_id FROM license_activations"));
    VIGIE_ASSIGN_OR_RETURN(auto last_id, deps.store->Query("SELECT value FROM kv WHERE key = ?",
                                                           {std::string(kHealthcheckLastIdKey)}));
    if (last_id.empty()) {
      // Not recorded yet (a new database, or one migrated from version 9): one scan, once.
      VIGIE_ASSIGN_OR_RETURN(last_id,
                             deps.store->Query("SELECT COALESCE(MAX(id), 0) AS value FROM "
                                               "healthchecks"));
    }
    if (last_id.size() != 1) {
      return MakeError(ErrorCode::kInternal, "reading the last healthcheck id: no row");
    }
    VIGIE_ASSIGN_OR_RETURN(hc_last_id, last_id[0].GetInt("value"));
    // heartbeats_last names each site's latest healthcheck as of its last flush; the rows given
    // after that flush (a crash lost their heartbeats_last update) are read from healthchecks:
    // the rows above the mark, a few seconds of them. Without a mark (a database migrated from
    // version 10), every row: one scan, once.
    VIGIE_ASSIGN_OR_RETURN(auto through,
                           deps.store->Query("SELECT value FROM kv WHERE key = ?",
                                             {std::string(kHeartbeatsLastThroughKey)}));
    int64_t through_id = 0;
    if (!through.empty()) {
      VIGIE_ASSIGN_OR_RETURN(through_id, through[0].GetInt("value"));
    }
    // The mark may name ids given to rows a crash lost before their batch: never give them again.
    hc_last_id = std::max(hc_last_id, through_id);
    VIGIE_ASSIGN_OR_RETURN(auto tail, deps.store->Query("SELECT site_id, MAX(id) AS id FROM "
                                                        "healthchecks WHERE id > ? GROUP BY "
                                                        "site_id",
                                                        {through_id}));
    std::lock_guard lock(mu);
    for (const auto& row : lasts) {
      VIGIE_ASSIGN_OR_RETURN(std::string site, row.GetText("site_id"));
      SiteState& st = sites[site];
      st.seen = true;
      VIGIE_ASSIGN_OR_RETURN(st.last_seen, row.GetInt("last_seen"));
      VIGIE_ASSIGN_OR_RETURN(st.report, row.GetText("last_report"));
      VIGIE_ASSIGN_OR_RETURN(st.last_pass_at, row.GetIntOrNull("last_pass_at"));
      VIGIE_ASSIGN_OR_RETURN(auto hc_id, row.GetIntOrNull("last_healthcheck_id"));
      st.last_healthcheck_id = hc_id.value_or(0);
    }
    for (const auto& row : tail) {
      VIGIE_ASSIGN_OR_RETURN(std::string site, row.GetText("site_id"));
      VIGIE_ASSIGN_OR_RETURN(int64_t id, row.GetInt("id"));
      SiteState& st = sites[site];
      st.last_healthcheck_id = std::max(st.last_healthcheck_id, id);
    }
    for (const auto& row : regs) {
      VIGIE_ASSIGN_OR_RETURN(std::string site, row.GetText("site_id"));
      VIGIE_ASSIGN_OR_RETURN(int64_t at, row.GetInt("registered_at"));
      SiteState& st = sites[site];
      int64_t seen = st.seen ? std::max(st.last_seen, at) : at;
      tracker->Track(site, FromUnixSeconds(seen));
      if (!st.registered) ++registered_count;
      st.registered = true;
    }
    for (const auto& row : lics) {
      VIGIE_ASSIGN_OR_RETURN(std::string site, row.GetText("site_id"));
      SiteState& st = sites[site];
      if (!st.licensed) ++licensed_count;
      st.licensed = true;
    }
    return OkStatus();
  }

  // ---- flushing of last-seen times ---------------------------------------------------------
  store::WriteFn FlushJob() {
    struct Last {
      std::string site;
      int64_t last_seen;
      std::string report;
      std::optional<int64_t> last_pass_at;
      int64_t last_healthcheck_id;
    };
    std::vector<Last> batch;
    int64_t through_id = 0;
    bool new_mark = false;
    {
      std::lock_guard lock(mu);
      // Every id up to here was given under mu before this snapshot, so the sites it names are
      // in this batch or in an earlier flush. An idle server writes nothing.
      through_id = hc_last_id;
      new_mark = through_id != heartbeats_last_through;
      heartbeats_last_through = through_id;
      batch.reserve(dirty_sites.size());
      for (SiteEntry* e : dirty_sites) {
        SiteState& st = e->second;
        st.dirty = false;
        batch.push_back(
            Last{e->first, st.last_seen, st.report, st.last_pass_at, st.last_healthcheck_id});
      }
      dirty_sites.clear();
    }
    return [batch = std::move(batch), through_id, new_mark](store::Txn& txn) -> Status {
      for (const Last& l : batch) {
        store::Value pass = l.last_pass_at ? store::Value(*l.last_pass_at) : store::Value();
        store::Value hc_id =
            l.last_healthcheck_id > 0 ? store::Value(l.last_healthcheck_id) : store::Value();
        VIGIE_RETURN_IF_ERROR(
            txn.Exec("INSERT INTO heartbeats_last (site_id, last_seen, last_report, last_pass_at, "
                     "last_healthcheck_id) VALUES (?, ?, ?, ?, ?) ON CONFLICT (site_id) DO "
                     "UPDATE SET last_seen = excluded.last_seen, last_report = "
                     "excluded.last_report, last_pass_at = excluded.last_pass_at, "
                     "last_healthcheck_id = excluded.last_healthcheck_id",
                     {l.site, l.last_seen, l.report, pass, hc_id}));
      }
      if (!new_mark) return OkStatus();
      return PutKvInt(txn, kHeartbeatsLastThroughKey, through_id);
    };
  }

  // ---- healthcheck batches -----------------------------------------------------------------
  // Retention (in the batch job, so each batch prunes about the rows it adds, a second's worth
  // one retention ago): drops the healthcheck rows received before `prune_before`, except those
  // a licence relied on. Rows are in arrival order, so the old ones are the range between the
  // pruning mark (kv, the last id already examined) and the first row still young: a range at
  // the start of the table, with no per-site work. A clock that stepped back can only leave a
  // row longer. `last_id`: the highest id stored so far (the range's end when all rows are old).
  static Status PruneHealthchecks(store::Txn& txn, int64_t prune_before, int64_t last_id) {
    VIGIE_ASSIGN_OR_RETURN(auto mark, txn.Query("SELECT value FROM kv WHERE key = ?",
                                                {std::string(kHealthcheckPrunedThroughKey)}));
    int64_t from = 0;  // rows above it are examined
    if (!mark.empty()) {
      VIGIE_ASSIGN_OR_RETURN(from, mark[0].GetInt("value"));
    }
    VIGIE_ASSIGN_OR_RETURN(auto young,
                           txn.Query("SELECT id FROM healthchecks WHERE id > ? AND received_at >= "
                                     "? ORDER BY id LIMIT 1",
                                     {from, prune_before}));
    int64_t to = last_id;  // last id examined: every row in (from, to] is old
    if (!young.empty()) {
      VIGIE_ASSIGN_OR_RETURN(int64_t first_young, young[0].GetInt("id"));
      to = first_young - 1;
    }
    if (to <= from) return OkStatus();
    VIGIE_RETURN_IF_ERROR(txn.Exec(
        "DELETE FROM healthchecks WHERE id > ? AND id <= ? AND id NOT IN (SELECT healthcheck_id "
        "FROM license_activations WHERE healthcheck_id > ? AND healthcheck_id <= ?)",
        {from, to, from, to}));
    return PutKvInt(txn, kHealthcheckPrunedThroughKey, to);
  }

  // Hands the pending healthcheck rows to the store as one WriteAsync job (every INSERT of the
  // batch in it, then the pruning by age: PruneHealthchecks). Never waits for the database:
  // callable on an I/O thread. On refusal (queue full, store closed) the rows stay pending, in
  // order, and heartbeats are answered with the store's error until a batch is accepted.
  // `try_only`: return at once when another flush is in progress (it, or the next one, takes the
  // new rows too).
  Status FlushHealthchecks(bool try_only = false) {
    std::unique_lock flush_lock(hc_flush_mu, std::defer_lock);
    if (try_only) {
      if (!flush_lock.try_lock()) return OkStatus();
    } else {
      flush_lock.lock();
    }
    auto rows = std::make_shared<std::vector<PendingHealthcheck>>();
    {
      std::lock_guard lock(mu);
      if (hc_pending.empty()) {
        hc_refused.reset();
        return OkStatus();
      }
      rows->swap(hc_pending);
      hc_pending.reserve(std::min(rows->size(), options.healthcheck_batch_max));
    }
    const size_t n = rows->size();
    const int64_t prune_before =
        ToUnixSeconds(clock().Now()) -
        std::chrono::duration_cast<std::chrono::seconds>(options.healthcheck_retention).count();
    auto st = deps.store->WriteAsync(
        [rows, prune_before](store::Txn& txn) -> Status {
          for (const PendingHealthcheck& row : *rows) {
            VIGIE_RETURN_IF_ERROR(txn.Exec(
                "INSERT INTO healthchecks (id, site_id, received_at, passed, report) VALUES (?, "
                "?, ?, ?, ?)",
                {row.id, *row.site, row.received_at, static_cast<int64_t>(row.passed ? 1 : 0),
                 row.report ? store::Value(*row.report) : store::Value()}));
          }
          const int64_t last_id = rows->back().id;  // rows are in id order
          VIGIE_RETURN_IF_ERROR(PutKvInt(txn, kHealthcheckLastIdKey, last_id));
          return PruneHealthchecks(txn, prune_before, last_id);
        },
        [this, n](Status st) {
          if (!st) {
            healthcheck_store_failures_total->Inc(static_cast<double>(n));
            log::Error("healthcheck_store_failed",
                       {{"rows", static_cast<int64_t>(n)}, {"error", st.error().ToString()}});
          }
        });
    std::lock_guard lock(mu);
    if (!st) {
      if (!hc_refused) {
        log::Warn("healthcheck_batch_refused",
                  {{"rows", static_cast<int64_t>(n)}, {"error", st.error().ToString()}});
      }
      // Put the rows back in front of those accepted meanwhile (flushes are serialised).
      rows->insert(rows->end(), std::make_move_iterator(hc_pending.begin()),
                   std::make_move_iterator(hc_pending.end()));
      hc_pending.swap(*rows);
      hc_refused = st.error();
      return st;
    }
    hc_refused.reset();
    return OkStatus();
  }

  void ScheduleHealthcheckFlush() {
    std::unique_ptr<Timer> previous;  // destroyed after the lock is released
    std::lock_guard lock(flush_mu);
    if (stopped) return;
    previous = std::move(hc_flush_timer);
    hc_flush_timer = clock().RunAfter(options.healthcheck_flush_interval, [this] {
      (void)FlushHealthchecks();  // a refusal is logged once and answered to heartbeats
      ScheduleHealthcheckFlush();
    });
  }

  void ScheduleFlush() {
    std::unique_ptr<Timer> previous;
    std::lock_guard lock(flush_mu);
    if (stopped) return;
    previous = std::move(flush_timer);
    flush_timer = clock().RunAfter(options.flush_interval, [this] {
      auto st = deps.store->WriteAsync(FlushJob(), [](Status st) {
        if (!st) log::Error("heartbeats_flush_failed", {{"error", st.error().ToString()}});
      });
      if (!st) log::Error("heartbeats_flush_failed", {{"error", st.error().ToString()}});
      ScheduleFlush();
    });
  }

  // ---- authentication ----------------------------------------------------------------------
  bool OperatorAuthorized(const ServerRequest& req) {
    std::string auth = req.Header("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.size() <= kBearer.size() || auth.compare(0, kBearer.size(), kBearer) != 0) {
      return false;
    }
    auto presented = crypto::Sha256(AsBytes(std::string_view(auth).substr(kBearer.size())));
    WipeBytes(auth.data(), auth.size());
    return sodium_memcmp(presented.data(), token_hash.data(), presented.size()) == 0;
  }

  static ServerResponse OperatorDenied() {
    return ServerResponse::ErrorWithStatus(
        401, ErrorCode::kUnauthenticated,
        "operator token required: send Authorization: Bearer <token> (the token is in the "
        "fleet manager's operator.token file)");
  }

  // The cache entry of `site` holding its agent secret: fetched from the SecretsBackend on a
  // miss. Blocking: worker only.
  Result<SiteEntry*> LoadSecret(std::string_view site) {
    {
      std::lock_guard lock(mu);
      auto it = sites.find(site);
      if (it != sites.end() && it->second.secret) return &*it;
    }
    const std::string name(site);
    auto value = deps.secrets->Get(backend::AgentApiSecretName(name));
    if (!value) {
      if (value.error().code == ErrorCode::kNotFound) {
        return MakeError(ErrorCode::kUnauthenticated,
                         "no credential known for site " + name +
                             ": the site was not provisioned by this fleet manager");
      }
      return MakeError(ErrorCode::kUnavailable, "cannot read the agent credential of site " + name +
                                                    ": " + value.error().message);
    }
    std::lock_guard lock(mu);
    auto it = sites.try_emplace(name).first;
    if (!it->second.secret) {
      // Into the slab: one sodium_malloc per site would exhaust the process's memory mappings
      // near 16,000 sites (base/secret.h, SecretSlab).
      it->second.secret =
          std::make_unique<const SecretBytes>(SecretBytes::CopyInto(secret_slab, value->span()));
    }
    return &*it;
  }

  // The cache entry of `site` if its secret is cached, else nullptr. Any thread.
  SiteEntry* CachedSecret(std::string_view site) {
    std::lock_guard lock(mu);
    auto it = sites.find(site);
    return it != sites.end() && it->second.secret ? &*it : nullptr;
  }

  using RejectFn = void (*)(Impl*, const Error&);
  static void IgnoreReject(Impl*, const Error&) {}
  static void CountHeartbeatReject(Impl* self, const Error& e) {
    self->heartbeats_rejected->With({RejectReason(e)}).Inc();
  }

  // Verifies `r` under the secret of `entry` (the header site's) and calls
  // next(r, entry, respond), where entry is then also the path site's.
  template <typename Next>
  void VerifyThen(const SiteRequestView& r, SiteEntry& entry, Responder& respond,
                  RejectFn on_reject, Next& next) {
    auto st = VerifySiteRequest(r, *entry.second.secret, replay, clock().Now());
    if (!st) {
      on_reject(this, st.error());
      respond(ServerResponse::Error(st.error()));
      return;
    }
    next(r, entry, std::move(respond));
  }

  // Authenticates the site request `req` and calls next(const SiteRequestView&, SiteEntry&,
  // Responder): inline on the calling (I/O) thread with views into `req` when the secret is
  // cached, else on the worker after fetching it, with views into an owning copy. The view is
  // valid only during the call: a next step that goes asynchronous copies what it needs.
  // `on_reject` sees every authentication failure.
  template <typename Next>
  void WithSiteAuth(const ServerRequest& req, Responder respond, RejectFn on_reject, Next next) {
    const SiteRequestView view = SiteRequestViewOf(req);
    if (view.header_site.empty()) {
      Error e{ErrorCode::kUnauthenticated,
              "missing header X-Vigie-Site: site requests must be signed (X-Vigie-Site, "
              "X-Vigie-Timestamp, X-Vigie-Nonce, X-Vigie-Signature)"};
      on_reject(this, e);
      respond(ServerResponse::Error(e));
      return;
    }
    if (SiteEntry* entry = CachedSecret(view.header_site)) {
      VerifyThen(view, *entry, respond, on_reject, next);
      return;
    }
    auto owned = std::make_shared<const OwnedSiteRequest>(view);
    worker.Post([this, owned, respond = std::move(respond), on_reject, next]() mutable {
      auto entry = LoadSecret(owned->header_site);
      if (!entry) {
        on_reject(this, entry.error());
        respond(ServerResponse::Error(entry.error()));
        return;
      }
      VerifyThen(owned->View(), **entry, respond, on_reject, next);
    });
  }

  bool IsRegistered(std::string_view site) {
    std::lock_guard lock(mu);
    auto it = sites.find(site);
    return it != sites.end() && it->second.registered;
  }

  // ---- handlers ----------------------------------------------------------------------------
  void HandleRegister(const ServerRequest& req, Responder respond) {
    WithSiteAuth(req, std::move(respond), &IgnoreReject,
                 [this](const SiteRequestView& r, SiteEntry&, Responder respond) {
                   worker.Post([this, site = std::string(r.path_site), body = std::string(r.body),
                                respond = std::move(respond)] { respond(Register(site, body)); });
                 });
  }

  ServerResponse Register(const std::string& site, const std::string& raw_body) {
    json body;
    try {
      body = json::parse(raw_body);
    } catch (const json::parse_error& e) {
      return ServerResponse::Error(
          Error{ErrorCode::kInvalidArgument,
                "malformed JSON at byte " + std::to_string(e.byte) + ": " + e.what()});
    }
    auto field = [&](const char* name) -> std::string {
      auto it = body.is_object() ? body.find(name) : body.end();
      return (body.is_object() && it != body.end() && it->is_string()) ? it->get<std::string>()
                                                                       : "";
    };
    const std::string package_id = field("package_id");
    const std::string fingerprint = field("enrollment_key_fingerprint");
    const std::string version = field("agent_version");
    if (package_id.empty() || fingerprint.empty() || version.empty()) {
      return ServerResponse::Error(
          Error{ErrorCode::kInvalidArgument,
                "register body: package_id, enrollment_key_fingerprint and agent_version must be "
                "non-empty strings"});
    }
    const int64_t now = ToUnixSeconds(clock().Now());
    auto st = deps.store->Write([&](store::Txn& txn) -> Status {
      VIGIE_ASSIGN_OR_RETURN(
          auto rows, txn.Query("SELECT site_id, enrollment_key_fingerprint, expires_at FROM "
                               "packages WHERE package_id = ?",
                               {package_id}));
      if (rows.empty()) {
        return MakeError(ErrorCode::kNotFound,
                         "register: package " + package_id + " is unknown to this fleet manager");
      }
      VIGIE_ASSIGN_OR_RETURN(std::string pkg_site, rows[0].GetText("site_id"));
      VIGIE_ASSIGN_OR_RETURN(std::string pkg_fp, rows[0].GetText("enrollment_key_fingerprint"));
      VIGIE_ASSIGN_OR_RETURN(int64_t expires, rows[0].GetInt("expires_at"));
      if (pkg_site != site) {
        return MakeError(ErrorCode::kPermissionDenied,
                         "register: package " + package_id + " belongs to another site");
      }
      if (pkg_fp.size() != fingerprint.size() ||
          sodium_memcmp(pkg_fp.data(), fingerprint.data(), pkg_fp.size()) != 0) {
        return MakeError(ErrorCode::kPermissionDenied,
                         "register: enrollment key fingerprint does not match the key package " +
                             package_id + " was sealed to");
      }
      if (expires != 0 && expires < now) {
        return MakeError(ErrorCode::kFailedPrecondition,
                         "register: package " + package_id +
                             " has expired; provision a new package for site " + site);
      }
      return txn.Exec(
          "INSERT INTO site_registrations (site_id, package_id, enrollment_key_fingerprint, "
          "agent_version, registered_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (site_id) DO UPDATE "
          "SET package_id = excluded.package_id, enrollment_key_fingerprint = "
          "excluded.enrollment_key_fingerprint, agent_version = excluded.agent_version, "
          "registered_at = excluded.registered_at",
          {site, package_id, fingerprint, version, now});
    });
    if (!st) return ServerResponse::Error(st.error());
    {
      std::lock_guard lock(mu);
      SiteState& state = sites[site];
      if (!state.registered) ++registered_count;
      state.registered = true;
    }
    tracker->Track(site);
    log::Info("site_registered", {{"site", site}, {"package", package_id}, {"version", version}});
    return JsonOk({{"site", site},
                   {"registered", true},
                   {"registered_at", FormatRfc3339(FromUnixSeconds(now))},
                   {"heartbeat_interval_seconds", 60}});
  }

  void HandleHeartbeat(const ServerRequest& req, Responder respond) {
    WithSiteAuth(req, std::move(respond), &CountHeartbeatReject,
                 [this](const SiteRequestView& r, SiteEntry& entry, Responder respond) {
                   Heartbeat(r, entry, std::move(respond));
                 });
  }

  // `entry` is the authenticated site's (r.path_site). Runs on an I/O thread (or on the worker
  // after a secret-cache miss); never waits for the database.
  void Heartbeat(const SiteRequestView& r, SiteEntry& entry, Responder respond) {
    const std::string& site = entry.first;
    bool registered;
    {
      std::lock_guard lock(mu);
      registered = entry.second.registered;
    }
    if (!registered) {
      heartbeats_rejected->With({"not_registered"}).Inc();
      respond(ServerResponse::Error(Error{ErrorCode::kFailedPrecondition,
                                          "site " + site + " is not registered: POST /v1/sites/" +
                                              site + "/register first (PROV_021)"}));
      return;
    }
    auto report = ParseHealthReport(r.body);
    if (!report) {
      heartbeats_rejected->With({"malformed_report"}).Inc();
      respond(ServerResponse::Error(report.error()));
      return;
    }
    const int64_t now = ToUnixSeconds(clock().Now());
    tracker->RecordHeartbeat(site);
    heartbeats_received_total->Inc();
    const bool passed = report->passed;
    // The healthcheck row (evidence for MAINT_001 and for the licence, PROV_022) joins the
    // pending batch, handed to the store every healthcheck_flush_interval or once
    // healthcheck_batch_max rows wait; the reply does not wait for it: the I/O threads never wait
    // on the database. What a crash can lose is documented in fleet_service.h. A licence
    // activation hands the pending batch to the store before its own Store::Write, so it decides
    // on committed rows only.
    // The row keeps the report as the site signed it when the healthcheck failed (what failed)
    // or the site holds no licence yet (so the report a licence relied on is kept with the row
    // the activation names). A licensed site's passing healthcheck is stored without it (NULL):
    // what the evidence needs of it is when and that it passed, and its report is the site's
    // last report (heartbeats_last, GET /v1/sites/{id}). This keeps rows about 8x smaller in a
    // licensed fleet, and with them the bytes the store writes per heartbeat
    // (docs/PERFORMANCE.md, run I).
    std::optional<Error> refused;
    bool flush = false;
    {
      std::lock_guard lock(mu);
      SiteState& st = entry.second;
      st.seen = true;
      st.last_seen = now;
      st.report.assign(r.body);
      if (passed) st.last_pass_at = now;
      if (!st.dirty) {
        st.dirty = true;
        dirty_sites.push_back(&entry);
      }
      if (hc_refused) {
        refused = *hc_refused;
      } else if (hc_pending.size() >= 8 * options.healthcheck_batch_max) {
        refused = Error{ErrorCode::kResourceExhausted,
                        "healthcheck rows are waiting for the database (" +
                            std::to_string(hc_pending.size()) + " pending); retry later"};
      } else {
        std::optional<std::string> kept;
        if (!passed || !st.licensed) kept.emplace(r.body);
        const int64_t id = ++hc_last_id;
        st.last_healthcheck_id = id;
        hc_pending.push_back(PendingHealthcheck{id, &entry.first, now, passed, std::move(kept)});
        flush = hc_pending.size() >= options.healthcheck_batch_max;
      }
    }
    if (refused) {
      // Queue full (kResourceExhausted -> 429) or store closed: the agent retries with backoff.
      heartbeats_rejected->With({"store_unavailable"}).Inc();
      respond(ServerResponse::Error(*refused));
      return;
    }
    if (flush) (void)FlushHealthchecks(/*try_only=*/true);  // a refusal is answered to the next
    respond(ServerResponse::Json(200, HeartbeatReply(passed, report->failing)));
  }

  void HandleActivate(const ServerRequest& req, Responder respond) {
    if (!req.Header("Authorization").empty()) {
      if (!OperatorAuthorized(req)) {
        respond(OperatorDenied());
        return;
      }
      std::string site = req.Param("id");
      worker.Post([this, site, respond] { respond(Activate(site)); });
      return;
    }
    WithSiteAuth(req, std::move(respond), &IgnoreReject,
                 [this](const SiteRequestView&, SiteEntry& entry, Responder respond) {
                   worker.Post([this, &entry, respond = std::move(respond)] {
                     respond(Activate(entry.first));
                   });
                 });
  }

  ServerResponse Activate(const std::string& site) {
    if (!IsRegistered(site)) {
      return ServerResponse::Error(
          Error{ErrorCode::kConflict, "PROV_022: site " + site +
                                          " is not registered; a licence is activated only on a "
                                          "registered site with a passing healthcheck"});
    }
    // The site's latest healthcheck, as given when its heartbeat arrived (a heartbeat arriving
    // from now on is not this decision's).
    int64_t hc_id = 0;
    {
      std::lock_guard lock(mu);
      auto it = sites.find(site);
      if (it != sites.end()) hc_id = it->second.last_healthcheck_id;
    }
    if (hc_id == 0) {
      return ServerResponse::Error(
          Error{ErrorCode::kConflict, "PROV_022: site " + site +
                                          " has sent no healthcheck yet; the licence is activated "
                                          "only after a passing healthcheck"});
    }
    // PROV_022 decides on committed rows, the latest heartbeat's included: hand the pending batch
    // to the store first; the Store::Write below runs after it.
    if (auto flushed = FlushHealthchecks(); !flushed) {
      return ServerResponse::Error(Error{
          ErrorCode::kUnavailable, "PROV_022: the latest healthchecks of site " + site +
                                       " could not be handed to the database (" +
                                       flushed.error().message + "); retry the activation later"});
    }
    const WallTime now = clock().Now();
    const int64_t window = options.license_health_window.count();
    int64_t hc_at = 0;
    auto st = deps.store->Write([&](store::Txn& txn) -> Status {
      VIGIE_ASSIGN_OR_RETURN(auto rows,
                             txn.Query("SELECT received_at, passed FROM healthchecks WHERE id = ? "
                                       "AND site_id = ?",
                                       {hc_id, site}));
      if (rows.empty()) {
        // Its batch was not stored (the store refused or failed it), or it was pruned: the
        // decision needs that row; the next heartbeat brings a new one.
        return MakeError(ErrorCode::kConflict,
                         "PROV_022: the latest healthcheck of site " + site + " (#" +
                             std::to_string(hc_id) +
                             ") is not in the database; wait for the next heartbeat and retry");
      }
      VIGIE_ASSIGN_OR_RETURN(hc_at, rows[0].GetInt("received_at"));
      VIGIE_ASSIGN_OR_RETURN(int64_t passed, rows[0].GetInt("passed"));
      if (passed == 0) {
        return MakeError(ErrorCode::kConflict, "PROV_022: the latest healthcheck of site " + site +
                                                   " (#" + std::to_string(hc_id) +
                                                   ") failed; fix the site and retry");
      }
      const int64_t age = ToUnixSeconds(now) - hc_at;
      if (age > window) {
        return MakeError(ErrorCode::kConflict, "PROV_022: the latest passing healthcheck of site " +
                                                   site + " is " + std::to_string(age) +
                                                   " s old (window " + std::to_string(window) +
                                                   " s); wait for a fresh heartbeat and retry");
      }
      return txn.Exec(
          "INSERT INTO license_activations (site_id, activated_at, healthcheck_id, "
          "healthcheck_at) VALUES (?, ?, ?, ?)",
          {site, ToUnixSeconds(now), hc_id, hc_at});
    });
    if (!st) return ServerResponse::Error(st.error());
    {
      std::lock_guard lock(mu);
      SiteState& state = sites[site];
      if (!state.licensed) ++licensed_count;
      state.licensed = true;
    }
    log::Info("license_activated", {{"site", site}, {"healthcheck", hc_id}});
    return JsonOk({{"site", site},
                   {"licensed", true},
                   {"activated_at", FormatRfc3339(now)},
                   {"healthcheck_id", hc_id},
                   {"healthcheck_at", FormatRfc3339(FromUnixSeconds(hc_at))}});
  }

  json SiteJson(const std::string& site) {
    json j = {{"site", site}};
    {
      std::lock_guard lock(mu);
      auto it = sites.find(site);
      const SiteState* st = it != sites.end() ? &it->second : nullptr;
      j["registered"] = st != nullptr && st->registered;
      j["licensed"] = st != nullptr && st->licensed;
      if (st != nullptr && st->seen) {
        j["last_heartbeat"] = FormatRfc3339(FromUnixSeconds(st->last_seen));
        j["last_report"] = json::parse(st->report, nullptr, false);
        j["last_pass_at"] = st->last_pass_at
                                ? json(FormatRfc3339(FromUnixSeconds(*st->last_pass_at)))
                                : json(nullptr);
      }
    }
    if (auto info = tracker->Get(site)) {
      j["state"] = SiteLivenessName(info->state);
    }
    return j;
  }

  void HandleGetSite(const ServerRequest& req, Responder respond) {
    if (!OperatorAuthorized(req)) return respond(OperatorDenied());
    std::string site = req.Param("id");
    worker.Post([this, site, respond] {
      if (!IsRegistered(site)) {
        respond(ServerResponse::Error(
            Error{ErrorCode::kNotFound, "site " + site + " is not registered"}));
        return;
      }
      json j = SiteJson(site);
      auto alerts = alert_manager->List(site);
      if (!alerts) return respond(ServerResponse::Error(alerts.error()));
      j["alerts"] = json::array();
      for (const auto& a : *alerts) j["alerts"].push_back(json::parse(AlertToJson(a)));
      respond(JsonOk(j));
    });
  }

  void HandleListSites(const ServerRequest& req, Responder respond) {
    if (!OperatorAuthorized(req)) return respond(OperatorDenied());
    std::vector<std::string> names;
    {
      std::lock_guard lock(mu);
      for (const auto& [site, st] : sites) {
        if (st.registered) names.push_back(site);
      }
    }
    std::sort(names.begin(), names.end());  // in site order, as ever
    json arr = json::array();
    for (const auto& s : names) arr.push_back(SiteJson(s));
    respond(JsonOk({{"sites", arr}}));
  }

  void HandleMetrics(const ServerRequest&, Responder respond) {
    ServerResponse resp;
    resp.status = 200;
    resp.headers = {{"Content-Type", std::string(http::kPrometheusTextContentType)}};
    resp.body = metrics.Render();
    respond(std::move(resp));
  }

  // ---- compliance (GET /v1/compliance and its metrics) ------------------------------------
  Status SetupComplianceMetrics() {
    if (!deps.compliance) return OkStatus();
    VIGIE_ASSIGN_OR_RETURN(
        compliance_status,
        metrics.AddGauge("vigie_compliance_rule_status",
                         "Compliance of each rule on each site at the last full evaluation: 1 "
                         "PASS, 0 FAIL, -1 NOT_APPLICABLE (site _fleet for fleet-wide rules).",
                         {"rule", "site"}));
    VIGIE_ASSIGN_OR_RETURN(auto* last,
                           metrics.AddGauge("vigie_compliance_last_evaluation_timestamp_seconds",
                                            "Unix time of the last successful full compliance "
                                            "evaluation (0 before the first)."));
    compliance_last_evaluation = &last->Get();
    VIGIE_ASSIGN_OR_RETURN(
        compliance_errors,
        metrics.AddCounter("vigie_compliance_evaluation_errors_total",
                           "Compliance evaluations that failed or could not read all evidence."));
    return OkStatus();
  }

  static bool IsFullQuery(const ComplianceQuery& q) { return q.site.empty() && q.rules.empty(); }

  // Runs the evaluator (worker thread only). A full evaluation also refreshes the metrics.
  Result<ComplianceSnapshot> EvaluateCompliance(const ComplianceQuery& q) {
    Result<ComplianceSnapshot> snap = [&] {
      std::lock_guard lock(compliance_eval_mu);
      return deps.compliance(q);
    }();
    const bool full = IsFullQuery(q);
    if (!snap) {
      // A rejected query (unknown rule or site) is the caller's error, not an evaluation error.
      const ErrorCode code = snap.error().code;
      if (code != ErrorCode::kInvalidArgument && code != ErrorCode::kNotFound) {
        compliance_errors->Get().Inc();
        log::Error("compliance_evaluation_failed", {{"error", snap.error().ToString()}});
      }
      return snap;
    }
    if (!snap->evidence_error.empty()) {
      compliance_errors->Get().Inc();
      log::Warn("compliance_evidence_incomplete", {{"error", snap->evidence_error}});
    }
    if (full) {
      std::map<http::LabelValues, double> series;
      for (const auto& s : snap->samples) series[{s.rule, s.site}] = s.value;
      compliance_status->Replace(series);
      compliance_last_evaluation->Set(static_cast<double>(ToUnixSeconds(clock().Now())));
      log::Info("compliance_evaluated", {{"results", static_cast<int64_t>(snap->samples.size())},
                                         {"any_fail", snap->any_fail}});
    }
    return snap;
  }

  // Queues one full evaluation on the worker unless one is already queued.
  void PostFullCompliance() {
    if (compliance_queued.exchange(true)) return;
    worker.Post([this] {
      compliance_queued = false;
      {
        std::lock_guard lock(compliance_mu);
        if (compliance_stopped) return;  // shutting down: not worth a full evaluation
      }
      (void)EvaluateCompliance(ComplianceQuery{});
    });
  }

  void ScheduleCompliance() {
    std::unique_ptr<Timer> previous;  // destroyed after the lock is released
    std::lock_guard lock(compliance_mu);
    if (compliance_stopped) return;
    previous = std::move(compliance_timer);
    compliance_timer = clock().RunAfter(options.compliance_interval, [this] {
      PostFullCompliance();
      ScheduleCompliance();
    });
  }

  void StartCompliance() {
    if (!deps.compliance) return;
    PostFullCompliance();  // the first evaluation, right after start
    ScheduleCompliance();
  }

  void StopCompliance() {
    std::unique_ptr<Timer> timer;
    {
      std::lock_guard lock(compliance_mu);
      compliance_stopped = true;
      timer = std::move(compliance_timer);
    }
    timer.reset();  // cancels, or waits for a running callback (which then schedules nothing)
  }

  void HandleCompliance(const ServerRequest& req, Responder respond) {
    if (!OperatorAuthorized(req)) return respond(OperatorDenied());
    if (!deps.compliance) {
      return respond(ServerResponse::ErrorWithStatus(
          503, ErrorCode::kUnavailable,
          "compliance reporting is not enabled on this fleet manager (started without a "
          "compliance evaluator); run `vigie compliance check` on the fleet manager host"));
    }
    auto query = ParseComplianceQuery(req.query);
    if (!query) return respond(ServerResponse::Error(query.error()));
    worker.Post([this, q = std::move(*query), respond] {
      auto snap = EvaluateCompliance(q);
      if (!snap) return respond(ServerResponse::Error(snap.error()));
      respond(ServerResponse::Json(200, std::move(snap->json)));
    });
  }

  Result<http::Router> BuildRouter() {
    http::Router router;
    auto add = [&](const char* method, const char* pattern,
                   void (Impl::*fn)(const ServerRequest&, Responder)) -> Status {
      auto r = std::make_unique<RouteLatency>();
      r->method = method;
      r->route = pattern;
      route_latency.push_back(std::move(r));
      return router.Add(method, pattern, [this, fn](const ServerRequest& req, Responder respond) {
        (this->*fn)(req, std::move(respond));
      });
    };
    VIGIE_RETURN_IF_ERROR(add("POST", "/v1/sites/{id}/heartbeat", &Impl::HandleHeartbeat));
    VIGIE_RETURN_IF_ERROR(add("POST", "/v1/sites/{id}/register", &Impl::HandleRegister));
    VIGIE_RETURN_IF_ERROR(add("POST", "/v1/sites/{id}/license/activate", &Impl::HandleActivate));
    VIGIE_RETURN_IF_ERROR(add("GET", "/v1/sites/{id}", &Impl::HandleGetSite));
    VIGIE_RETURN_IF_ERROR(add("GET", "/v1/sites", &Impl::HandleListSites));
    VIGIE_RETURN_IF_ERROR(add("GET", "/v1/compliance", &Impl::HandleCompliance));
    VIGIE_RETURN_IF_ERROR(add("GET", "/metrics", &Impl::HandleMetrics));
    return router;
  }

  void Stop() {
    {
      std::lock_guard lock(flush_mu);
      if (stopped) return;
      stopped = true;
    }
    if (server) server->Stop();
    std::unique_ptr<Timer> timer, hc_timer;
    {
      std::lock_guard lock(flush_mu);
      timer = std::move(flush_timer);
      hc_timer = std::move(hc_flush_timer);
    }
    timer.reset();
    hc_timer.reset();
    StopCompliance();
    if (metrics_selfcheck) metrics_selfcheck->Stop();
    tracker->Stop();
    worker.Stop();
    if (auto st = FlushHealthchecks(); !st) {
      size_t lost = 0;
      {
        std::lock_guard lock(mu);
        lost = hc_pending.size();
        hc_pending.clear();
      }
      healthcheck_store_failures_total->Inc(static_cast<double>(lost));
      log::Error("healthcheck_store_failed",
                 {{"rows", static_cast<int64_t>(lost)}, {"error", st.error().ToString()}});
    }
    auto st = deps.store->Write(FlushJob());
    if (!st) log::Error("heartbeats_flush_failed", {{"error", st.error().ToString()}});
  }
};

FleetServer::FleetServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FleetServer::~FleetServer() { Stop(); }
uint16_t FleetServer::port() const { return impl_->server->port(); }
const SecretBytes& FleetServer::generated_operator_token() const { return impl_->generated_token; }
std::string FleetServer::operator_token_path() const { return impl_->token_path; }
void FleetServer::Stop() { impl_->Stop(); }
LivenessTracker& FleetServer::tracker() { return *impl_->tracker; }
AlertManager& FleetServer::alerts() { return *impl_->alert_manager; }
WebhookNotifier* FleetServer::notifier() { return impl_->notifier.get(); }
http::MetricsRegistry& FleetServer::metrics() { return impl_->metrics; }
Status FleetServer::FlushNow() {
  VIGIE_RETURN_IF_ERROR(impl_->FlushHealthchecks());
  return impl_->deps.store->Write(impl_->FlushJob());
}
Status FleetServer::RefreshComplianceNow() {
  Impl* p = impl_.get();
  if (!p->deps.compliance) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     "RefreshComplianceNow: the fleet server has no compliance evaluator");
  }
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> result = done->get_future();
  // Only the job owns the promise: a job dropped by a stopped worker breaks it.
  p->worker.Post([p, done = std::move(done)] {
    auto snap = p->EvaluateCompliance(ComplianceQuery{});
    done->set_value(snap ? OkStatus() : Status(tl::make_unexpected(snap.error())));
  });
  try {
    return result.get();
  } catch (const std::future_error&) {  // the worker stopped and dropped the job
    return MakeError(ErrorCode::kUnavailable, "RefreshComplianceNow: the fleet server is stopped");
  }
}

FleetServerOptions FleetOptionsFromConfig(const config::Config& c) {
  FleetServerOptions o;
  o.listen_address = c.server.listen_address;
  o.max_body_bytes = static_cast<size_t>(c.server.max_body_bytes);
  o.max_connections = static_cast<size_t>(c.server.max_connections);
  o.read_timeout = std::chrono::seconds(c.server.read_timeout_seconds);
  o.io_threads = static_cast<int>(c.server.io_threads);
  o.data_dir = c.data_dir;
  o.operator_token_file = c.server.operator_token_file;
  o.heartbeat_late_after = std::chrono::seconds(c.fleet.heartbeat_late_after_seconds);
  o.heartbeat_alert_after = std::chrono::seconds(c.fleet.heartbeat_alert_after_seconds);
  o.license_health_window = std::chrono::seconds(c.fleet.license_health_window_seconds);
  o.healthcheck_flush_interval = std::chrono::milliseconds(c.fleet.healthcheck_flush_interval_ms);
  o.healthcheck_batch_max = static_cast<size_t>(c.fleet.healthcheck_batch_max);
  o.healthcheck_retention = std::chrono::minutes(c.fleet.healthcheck_retention_minutes);
  o.webhook_url = c.alerting.sms_webhook_url;
  return o;
}

Result<std::unique_ptr<FleetServer>> StartFleetServer(FleetServerOptions options, FleetDeps deps) {
  if (!deps.env.clock || !deps.env.fs || !deps.env.random || !deps.store || !deps.secrets) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "StartFleetServer: env (clock, fs, random), store and secrets are required");
  }
  if (!options.webhook_url.empty() && !deps.webhook_client) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "StartFleetServer: webhook_url is set but no webhook HTTP client was given");
  }
  if (options.heartbeat_late_after <= std::chrono::seconds(0) ||
      options.heartbeat_late_after >= options.heartbeat_alert_after) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "fleet: heartbeat_late_after_seconds must be > 0 and < "
                     "heartbeat_alert_after_seconds");
  }
  if (options.healthcheck_flush_interval <= std::chrono::milliseconds(0) ||
      options.healthcheck_batch_max == 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "StartFleetServer: healthcheck_flush_interval and healthcheck_batch_max must "
                     "be > 0");
  }
  auto impl = std::make_unique<FleetServer::Impl>(std::move(options), deps);
  FleetServer::Impl* p = impl.get();
  VIGIE_RETURN_IF_ERROR(p->SetupMetrics());
  VIGIE_RETURN_IF_ERROR(p->SetupComplianceMetrics());
  if (!p->options.webhook_url.empty()) {
    p->notifier = std::make_unique<WebhookNotifier>(WebhookOptions{.url = p->options.webhook_url},
                                                    deps.webhook_client, deps.env.clock);
  }
  VIGIE_ASSIGN_OR_RETURN(p->alert_manager, AlertManager::Create(deps.store, deps.env.clock,
                                                                &p->metrics, p->notifier.get()));
  p->tracker = std::make_unique<LivenessTracker>(
      deps.env.clock,
      LivenessOptions{p->options.heartbeat_late_after, p->options.heartbeat_alert_after},
      [p](const LivenessTransition& t) { p->alert_manager->OnTransition(t); });
  VIGIE_RETURN_IF_ERROR(p->SetupToken());
  VIGIE_RETURN_IF_ERROR(p->LoadState());
  VIGIE_ASSIGN_OR_RETURN(http::Router router, p->BuildRouter());

  http::ServerOptions so;
  so.listen_address = p->options.listen_address;
  so.tls = p->options.tls;
  if (so.tls) {
    if (p->options.tls_material.cert_pem.empty()) {
      VIGIE_ASSIGN_OR_RETURN(so.tls_material, http::GenerateSelfSignedCertificate(
                                                  "vigie-fleet", 365, {"localhost", "127.0.0.1"}));
    } else {
      so.tls_material.cert_pem = p->options.tls_material.cert_pem;
      so.tls_material.key_pem = p->options.tls_material.key_pem.Clone();
      so.tls_material.spki_pin = p->options.tls_material.spki_pin;
    }
  }
  so.max_body_bytes = p->options.max_body_bytes;
  so.max_connections = p->options.max_connections;
  so.read_timeout = p->options.read_timeout;
  so.io_threads = p->options.io_threads;
  so.observer = [p](const http::RequestObservation& o) { p->Observe(o); };
  VIGIE_ASSIGN_OR_RETURN(p->server, http::HttpServer::Start(std::move(so), std::move(router)));
  p->tracker->Start(p->options.tick_interval);
  p->ScheduleFlush();
  p->ScheduleHealthcheckFlush();
  p->StartCompliance();
  p->metrics_selfcheck = std::make_unique<MetricsSelfChecker>(
      std::string(kFleetMetricsComponent), [p] { return p->metrics.Render(); }, deps.env.clock,
      deps.store, p->options.metrics_selfcheck_interval);
  p->metrics_selfcheck->Start();
  log::Info("fleet_server_started",
            {{"port", static_cast<int64_t>(p->server->port())}, {"tls", p->options.tls}});
  return std::unique_ptr<FleetServer>(new FleetServer(std::move(impl)));
}

}  // namespace vigie::fleet
