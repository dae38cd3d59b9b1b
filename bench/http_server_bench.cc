// vigie_http_server_bench: the CPU the HTTP server core (src/http/server.cc) spends per keep-alive
// TLS request, without the fleet service behind it (issue 7).
//
// Starts an HttpServer with TLS (a fresh self-signed certificate), --io-threads I/O threads
// (default 2) and one route, POST /v1/sites/{id}/heartbeat, answered inline with 200
// {"accepted":true}. Prints {"port":P} on one line once it listens, then runs until SIGTERM or
// SIGINT and prints, as one JSON object, its own CPU time (getrusage: user + system, whole
// process) and the server's request count since start, plus cpu_us_per_request.
// Drive it with bench/heartbeat_load.cc (any --sites-file: this handler checks no signature).
//
// Usage: vigie_http_server_bench [--port 0] [--io-threads 2] [--write-tls DIR]
//   --write-tls DIR: also writes DIR/cert.pem and DIR/key.pem (a throwaway benchmark key) so
//                    that nginx can serve the same certificate for the ceiling run.
// SECURITY: a benchmark tool; listens on 127.0.0.1 only.

#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "http/server.h"
#include "http/tls_material.h"

namespace {

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "vigie_http_server_bench: %s\nusage: vigie_http_server_bench [--port 0] "
               "[--io-threads 2] [--write-tls DIR]\n",
               why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int io_threads = 2;
  std::string tls_dir;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) Usage("every flag takes a value");
    std::string v = argv[++i];
    if (k == "--port")
      port = std::atoi(v.c_str());
    else if (k == "--io-threads")
      io_threads = std::atoi(v.c_str());
    else if (k == "--write-tls")
      tls_dir = v;
    else
      Usage("unknown flag");
  }
  if (port < 0 || port > 65535) Usage("--port must be in 0..65535");
  if (io_threads < 1 || io_threads > 64) Usage("--io-threads must be in 1..64");

  // Block the stop signals before any thread starts, so that only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto material = vigie::http::GenerateSelfSignedCertificate("localhost", 2, {"127.0.0.1"});
  if (!material) {
    std::fprintf(stderr, "certificate: %s\n", material.error().ToString().c_str());
    return 1;
  }
  if (!tls_dir.empty()) {
    std::ofstream(tls_dir + "/cert.pem") << material->cert_pem;
    std::ofstream(tls_dir + "/key.pem") << material->key_pem.view();
  }

  vigie::http::Router router;
  auto added = router.Add("POST", "/v1/sites/{id}/heartbeat",
                          [](const vigie::http::ServerRequest&, vigie::http::Responder respond) {
                            respond(vigie::http::ServerResponse::Json(200, "{\"accepted\":true}"));
                          });
  if (!added) return 1;

  vigie::http::ServerOptions options;
  options.listen_address = fmt::format("127.0.0.1:{}", port);
  options.tls_material = std::move(*material);
  options.io_threads = io_threads;
  options.max_connections = 10000;
  auto server = vigie::http::HttpServer::Start(std::move(options), std::move(router));
  if (!server) {
    std::fprintf(stderr, "start: %s\n", server.error().ToString().c_str());
    return 1;
  }
  std::printf("{\"port\":%u}\n", (*server)->port());
  std::fflush(stdout);

  const double cpu0 = CpuSeconds();
  int sig = 0;
  sigwait(&stop_signals, &sig);
  const double cpu = CpuSeconds() - cpu0;
  const uint64_t requests = (*server)->stats().requests;
  (*server)->Stop(std::chrono::milliseconds(1000));
  std::printf("{\"io_threads\":%d,\"cpu_s\":%.3f,\"requests\":%llu,\"cpu_us_per_request\":%.2f}\n",
              io_threads, cpu, static_cast<unsigned long long>(requests),
              requests ? cpu * 1e6 / static_cast<double>(requests) : 0.0);
  return 0;
}
