// vigie_heartbeat_load: a load generator for the fleet manager's heartbeat route (issue 7
// benchmark, bench/heartbeat_bench.sh).
//
// C keep-alive TLS connections (HTTP/1.1, one request in flight per connection: no pipelining),
// driven by T threads, each with its own epoll loop over its share of the connections (plain
// epoll + non-blocking OpenSSL). Every request is a real signed heartbeat: the body is a
// healthcheck report as the agent sends it, and the X-Vigie-* headers come from
// fleet::SignSiteRequest (fresh nonce, current timestamp, HMAC under the site's agent secret),
// for the next of the S sites of --sites-file, round-robin. Against nginx the same bytes are sent
// (to the same path, which nginx answers with 204).
//
// Modes:
//   --mode heartbeat  (default) warm-up for --warmup s, then measure for --duration s: only
//                     responses completed inside the measured window count, and their latency
//                     (request written -> response fully read) goes into p50/p99.
//   --mode register   POST /v1/sites/{id}/register once per site (the agent's first call,
//                     PROV_021), with the package id and enrollment key fingerprint of the
//                     sites file; ends when every site has an answer.
//
// Prints one JSON object: {label, mode, connections, threads, sites, duration_s, requests,
// errors, status: {code: count}, conn_errors, reconnects, rate, p50_us, p90_us, p99_us,
// max_us, tls, client_cpu_s}. `errors` = responses whose status is not 2xx + connection errors.
//
// The sites file (vigie_heartbeat_setup) has one line per site:
//   <site> <package_id> <enrollment_key_fingerprint> <hex(agent_api_secret)>
// SECURITY: a benchmark tool; the secrets stay in SecretBytes once read; only send to loopback.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/encoding.h"
#include "base/env.h"
#include "base/secret.h"
#include "fleet/site_auth.h"
#include "heartbeat_report.h"

namespace {

using namespace vigie;
using SteadyClock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

struct Args {
  std::string host = "127.0.0.1";
  int port = 0;
  int connections = 64;
  int threads = 1;
  double duration_s = 20;
  double warmup_s = 5;
  std::string sites_file;
  int max_sites = 0;  // 0: all
  std::string mode = "heartbeat";
  std::string label = "target";
  std::string ca_file;  // verify the server's certificate against it (no name check: loopback)
};

[[noreturn]] void Usage(const std::string& msg) {
  std::fprintf(stderr,
               "vigie_heartbeat_load: %s\n"
               "usage: vigie_heartbeat_load --port P --sites-file FILE [--host 127.0.0.1] "
               "[--connections 64] [--threads 1] [--duration 20] [--warmup 5] [--max-sites N] "
               "[--mode heartbeat|register] [--label NAME] [--ca FILE]\n",
               msg.c_str());
  std::exit(2);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) Usage("missing value after " + k);
    std::string v = argv[++i];
    if (k == "--host") a.host = v;
    else if (k == "--port") a.port = std::atoi(v.c_str());
    else if (k == "--connections") a.connections = std::atoi(v.c_str());
    else if (k == "--threads") a.threads = std::atoi(v.c_str());
    else if (k == "--duration") a.duration_s = std::atof(v.c_str());
    else if (k == "--warmup") a.warmup_s = std::atof(v.c_str());
    else if (k == "--sites-file") a.sites_file = v;
    else if (k == "--max-sites") a.max_sites = std::atoi(v.c_str());
    else if (k == "--mode") a.mode = v;
    else if (k == "--label") a.label = v;
    else if (k == "--ca") a.ca_file = v;
    else Usage("unknown option " + k);
  }
  if (a.port < 1 || a.port > 65535) Usage("--port must be in 1..65535");
  if (a.sites_file.empty()) Usage("--sites-file is required");
  if (a.connections < 1 || a.connections > 10000) Usage("--connections must be in 1..10000");
  if (a.threads < 1 || a.threads > 64) Usage("--threads must be in 1..64");
  if (a.duration_s <= 0 || a.warmup_s < 0) Usage("--duration must be > 0, --warmup >= 0");
  if (a.mode != "heartbeat" && a.mode != "register") Usage("--mode is heartbeat or register");
  // Loopback only: this tool generates load.
  in_addr addr{};
  if (inet_pton(AF_INET, a.host.c_str(), &addr) != 1 || (ntohl(addr.s_addr) >> 24) != 127) {
    Usage("--host must be an IPv4 loopback address (127.0.0.0/8)");
  }
  return a;
}

struct Site {
  std::string id, package_id, fingerprint;
  SecretBytes secret;
};

// The secrets go into `slab`: one sodium_malloc each would exhaust the process's memory
// mappings near 16,000 sites (base/secret.h).
std::vector<Site> LoadSites(const std::string& path, int max_sites, SecretSlab& slab) {
  std::ifstream in(path);
  if (!in) Usage("cannot read the sites file " + path);
  std::vector<Site> sites;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    Site s;
    std::string hex;
    if (!(fields >> s.id >> s.package_id >> s.fingerprint >> hex)) {
      Usage("malformed line " + std::to_string(sites.size() + 1) + " in " + path +
            ": expected <site> <package_id> <fingerprint> <hex secret>");
    }
    auto bytes = HexDecode(hex);
    WipeString(hex);
    if (!bytes) Usage("line " + std::to_string(sites.size() + 1) + " of " + path + ": bad hex");
    s.secret = SecretBytes::CopyInto(slab, std::span<const uint8_t>(*bytes));
    WipeBytes(bytes->data(), bytes->size());
    sites.push_back(std::move(s));
    if (max_sites > 0 && static_cast<int>(sites.size()) >= max_sites) break;
  }
  WipeString(line);
  if (sites.empty()) Usage("no site in " + path);
  return sites;
}

const char* kReport = vigie::bench::kHealthyReport;

struct Shared {
  const Args* args = nullptr;
  const std::vector<Site>* sites = nullptr;
  std::string host_header;
  SSL_CTX* ctx = nullptr;
  sockaddr_in addr{};
  std::atomic<uint64_t> next{0};
  int64_t measure_start_ns = 0;
  int64_t measure_end_ns = 0;
  std::atomic<bool> stop{false};
  bool register_mode = false;
};

struct ThreadStats {
  uint64_t requests = 0;  // responses completed in the measured window
  std::map<int, uint64_t> status;
  uint64_t conn_errors = 0;
  uint64_t reconnects = 0;
  std::vector<uint32_t> latencies_us;
  std::string tls;
};

class Conn {
 public:
  Conn(Shared* shared, ThreadStats* stats, int epfd)
      : shared_(shared), stats_(stats), epfd_(epfd) {}
  ~Conn() { Close(); }

  bool idle() const { return state_ == State::kIdle || state_ == State::kDead; }

  void Open() {
    Close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return Fail();
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = ::connect(fd_, reinterpret_cast<const sockaddr*>(&shared_->addr),
                       sizeof shared_->addr);
    if (rc != 0 && errno != EINPROGRESS) return Fail();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.ptr = this;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd_, &ev) != 0) return Fail();
    state_ = State::kConnecting;
  }

  // Advances the state machine until OpenSSL or the socket would block.
  void Drive() {
    for (;;) {
      switch (state_) {
        case State::kConnecting: {
          int err = 0;
          socklen_t len = sizeof err;
          if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return Fail();
          if (err == EINPROGRESS || err == EALREADY) return;
          if (err != 0) return Fail();
          ssl_ = SSL_new(shared_->ctx);
          SSL_set_fd(ssl_, fd_);
          SSL_set_connect_state(ssl_);
          state_ = State::kHandshake;
          break;
        }
        case State::kHandshake: {
          int r = SSL_do_handshake(ssl_);
          if (r != 1) {
            if (WouldBlock(r)) return;
            return Fail();
          }
          if (stats_->tls.empty()) {
            stats_->tls = fmt::format("{} {}", SSL_get_version(ssl_),
                                      SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_)));
          }
          StartRequest();
          break;
        }
        case State::kWriting: {
          int r = SSL_write(ssl_, out_.data() + out_off_, static_cast<int>(out_.size() - out_off_));
          if (r <= 0) {
            if (WouldBlock(r)) return;
            return Fail();
          }
          out_off_ += static_cast<size_t>(r);
          if (out_off_ == out_.size()) state_ = State::kReading;
          break;
        }
        case State::kReading: {
          char buf[16384];
          int r = SSL_read(ssl_, buf, sizeof buf);
          if (r <= 0) {
            if (WouldBlock(r)) return;
            return Fail();
          }
          in_.append(buf, static_cast<size_t>(r));
          if (!TryComplete()) return;  // Fail()ed or reconnecting
          break;
        }
        case State::kIdle:
        case State::kDead:
          return;
      }
    }
  }

 private:
  enum class State { kConnecting, kHandshake, kWriting, kReading, kIdle, kDead };

  bool WouldBlock(int r) {
    int e = SSL_get_error(ssl_, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
  }

  void Close() {
    if (ssl_) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) {
      ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd_, nullptr);
      ::close(fd_);
      fd_ = -1;
    }
    in_.clear();
  }

  void Fail() {
    ERR_clear_error();
    Close();
    const int64_t now = NowNs();
    if (now >= shared_->measure_start_ns && now < shared_->measure_end_ns) ++stats_->conn_errors;
    if (shared_->stop.load(std::memory_order_relaxed) || ++failures_ > 50) {
      state_ = State::kDead;
      return;
    }
    if (in_flight_site_ != kNone && shared_->register_mode) pending_retry_ = in_flight_site_;
    in_flight_site_ = kNone;
    ++stats_->reconnects;
    Open();
  }

  void StartRequest() {
    if (shared_->stop.load(std::memory_order_relaxed)) {
      state_ = State::kIdle;
      return;
    }
    const auto& sites = *shared_->sites;
    uint64_t n;
    if (pending_retry_ != kNone) {
      n = pending_retry_;
      pending_retry_ = kNone;
    } else {
      n = shared_->next.fetch_add(1, std::memory_order_relaxed);
      if (shared_->register_mode && n >= sites.size()) {
        state_ = State::kIdle;
        return;
      }
    }
    const Site& site = sites[n % sites.size()];
    in_flight_site_ = n;
    std::string path, body;
    if (shared_->register_mode) {
      path = "/v1/sites/" + site.id + "/register";
      body = fmt::format(R"({{"package_id":"{}","enrollment_key_fingerprint":"{}",)"
                         R"("agent_version":"0.1.0"}})",
                         site.package_id, site.fingerprint);
    } else {
      path = "/v1/sites/" + site.id + "/heartbeat";
      body = kReport;
    }
    http::Headers signed_headers = fleet::SignSiteRequest(site.id, site.secret, "POST", path, body,
                                                          RealClock()->Now(), *RealRandom());
    out_.clear();
    out_off_ = 0;
    out_.append("POST ").append(path).append(" HTTP/1.1\r\nHost: ");
    out_.append(shared_->host_header);
    out_.append("\r\nUser-Agent: vigie-heartbeat-load\r\nContent-Type: application/json\r\n");
    out_.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    for (const auto& [k, v] : signed_headers) out_.append(k).append(": ").append(v).append("\r\n");
    out_.append("\r\n").append(body);
    sent_ns_ = NowNs();
    state_ = State::kWriting;
  }

  // Parses a complete response from in_, if there is one. Returns false when the connection was
  // failed or reopened (the caller stops driving the old state).
  bool TryComplete() {
    const size_t hdr_end = in_.find("\r\n\r\n");
    if (hdr_end == std::string::npos) return true;
    if (in_.compare(0, 9, "HTTP/1.1 ") != 0 || in_.size() < 12) {
      Fail();
      return false;
    }
    const int status = std::atoi(in_.c_str() + 9);
    std::string head = in_.substr(0, hdr_end);
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    size_t content_length = 0;
    if (auto p = head.find("\r\ncontent-length:"); p != std::string::npos) {
      content_length = std::strtoul(head.c_str() + p + 17, nullptr, 10);
    } else if (head.find("\r\ntransfer-encoding:") != std::string::npos) {
      Fail();  // not produced by either server for these routes
      return false;
    }
    const bool close = head.find("\r\nconnection: close") != std::string::npos;
    const size_t total = hdr_end + 4 + content_length;
    if (in_.size() < total) return true;
    const int64_t done = NowNs();
    if (shared_->register_mode ||
        (done >= shared_->measure_start_ns && done < shared_->measure_end_ns)) {
      ++stats_->requests;
      ++stats_->status[status];
      stats_->latencies_us.push_back(static_cast<uint32_t>((done - sent_ns_) / 1000));
    }
    in_.erase(0, total);
    in_flight_site_ = kNone;
    failures_ = 0;
    if (close) {
      Close();
      ++stats_->reconnects;
      Open();
      return false;
    }
    StartRequest();
    return true;
  }

  static constexpr uint64_t kNone = ~uint64_t{0};
  Shared* shared_;
  ThreadStats* stats_;
  int epfd_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  State state_ = State::kDead;
  std::string out_;
  size_t out_off_ = 0;
  std::string in_;
  int64_t sent_ns_ = 0;
  uint64_t in_flight_site_ = kNone;
  uint64_t pending_retry_ = kNone;
  int failures_ = 0;
};

void RunThread(Shared* shared, int connections, ThreadStats* stats) {
  int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < connections; ++i) {
    conns.push_back(std::make_unique<Conn>(shared, stats, epfd));
    conns.back()->Open();
  }
  std::vector<epoll_event> events(256);
  for (;;) {
    int n = ::epoll_wait(epfd, events.data(), static_cast<int>(events.size()), 20);
    for (int i = 0; i < n; ++i) static_cast<Conn*>(events[i].data.ptr)->Drive();
    const int64_t now = NowNs();
    if (!shared->register_mode && now >= shared->measure_end_ns) break;
    if (shared->register_mode || shared->stop.load(std::memory_order_relaxed)) {
      bool all_idle = true;
      for (const auto& c : conns) all_idle = all_idle && c->idle();
      if (all_idle) break;
      if (now >= shared->measure_end_ns) break;  // register mode: overall time limit
    }
  }
  conns.clear();
  ::close(epfd);
}

double Percentile(std::vector<uint32_t>& v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  SecretSlab slab;  // outlives `sites`
  const std::vector<Site> sites = LoadSites(args.sites_file, args.max_sites, slab);

  Shared shared;
  shared.args = &args;
  shared.sites = &sites;
  shared.register_mode = args.mode == "register";
  shared.host_header = fmt::format("{}:{}", args.host, args.port);
  shared.addr.sin_family = AF_INET;
  shared.addr.sin_port = htons(static_cast<uint16_t>(args.port));
  inet_pton(AF_INET, args.host.c_str(), &shared.addr.sin_addr);

  shared.ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(shared.ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(shared.ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!args.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(shared.ctx, args.ca_file.c_str(), nullptr) != 1) {
      Usage("cannot load the CA file " + args.ca_file);
    }
    SSL_CTX_set_verify(shared.ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(shared.ctx, SSL_VERIFY_NONE, nullptr);
  }

  const int64_t t0 = NowNs();
  if (shared.register_mode) {
    shared.measure_start_ns = t0;
    shared.measure_end_ns = t0 + static_cast<int64_t>(600e9);  // safety limit
  } else {
    shared.measure_start_ns = t0 + static_cast<int64_t>(args.warmup_s * 1e9);
    shared.measure_end_ns = shared.measure_start_ns + static_cast<int64_t>(args.duration_s * 1e9);
  }

  const int threads = std::min(args.threads, args.connections);
  std::vector<ThreadStats> stats(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    int share = args.connections / threads + (t < args.connections % threads ? 1 : 0);
    workers.emplace_back(RunThread, &shared, share, &stats[static_cast<size_t>(t)]);
  }
  for (auto& w : workers) w.join();
  const double elapsed = static_cast<double>(NowNs() - t0) / 1e9;

  ThreadStats total;
  for (auto& s : stats) {
    total.requests += s.requests;
    for (auto [code, n] : s.status) total.status[code] += n;
    total.conn_errors += s.conn_errors;
    total.reconnects += s.reconnects;
    total.latencies_us.insert(total.latencies_us.end(), s.latencies_us.begin(),
                              s.latencies_us.end());
    if (total.tls.empty()) total.tls = s.tls;
  }
  uint64_t errors = total.conn_errors;
  std::string status_json;
  for (auto [code, n] : total.status) {
    if (code < 200 || code > 299) errors += n;
    status_json += fmt::format("{}\"{}\": {}", status_json.empty() ? "" : ", ", code, n);
  }
  const double window = shared.register_mode ? elapsed : args.duration_s;
  const double p50 = Percentile(total.latencies_us, 0.50);
  const double p90 = Percentile(total.latencies_us, 0.90);
  const double p99 = Percentile(total.latencies_us, 0.99);
  const double pmax = total.latencies_us.empty()
                          ? 0
                          : *std::max_element(total.latencies_us.begin(), total.latencies_us.end());
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  std::printf(
      "{\"label\": \"%s\", \"mode\": \"%s\", \"connections\": %d, \"threads\": %d, \"sites\": %zu, "
      "\"duration_s\": %.1f, \"requests\": %llu, \"errors\": %llu, \"status\": {%s}, "
      "\"conn_errors\": %llu, \"reconnects\": %llu, \"rate\": %.0f, \"p50_us\": %.0f, "
      "\"p90_us\": %.0f, \"p99_us\": %.0f, \"max_us\": %.0f, \"tls\": \"%s\", "
      "\"client_cpu_s\": %.1f}\n",
      args.label.c_str(), args.mode.c_str(), args.connections, threads, sites.size(), window,
      static_cast<unsigned long long>(total.requests), static_cast<unsigned long long>(errors),
      status_json.c_str(), static_cast<unsigned long long>(total.conn_errors),
      static_cast<unsigned long long>(total.reconnects),
      static_cast<double>(total.requests) / window, p50, p90, p99, pmax, total.tls.c_str(), cpu);
  SSL_CTX_free(shared.ctx);
  return errors == 0 ? 0 : 1;
}
