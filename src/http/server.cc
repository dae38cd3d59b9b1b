// HttpServer over Boost.Beast/Asio + OpenSSL. This is the only translation unit that includes
// Beast (compile time on 2 cores): router.cc and tls_material.cc stay Boost-free.
//
// Ownership: the server's registry (Impl::sessions) owns every open connection; pending async
// operations hold extra references (shared_from_this). A Responder holds only a weak reference
// plus the server's Gate, so a handler that answers after the connection or the server is gone
// posts nothing, and no connection can outlive the io_context its socket belongs to.

#include "http/server.h"

#include <fmt/format.h>
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include "base/log.h"

namespace vigie::http {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// Bytes read and discarded after an error answer before closing, so the client reads the answer
// instead of a TCP reset caused by its unread request body (a "lingering close").
constexpr size_t kMaxLingerBytes = 1 << 20;
constexpr std::chrono::milliseconds kMaxLinger{2000};
// Size of the read that waits for the first bytes of a request.
constexpr size_t kFirstRead = 4096;

// Closed under its mutex when the server stops: a late Responder then posts nothing.
struct Gate {
  std::mutex mu;
  bool open = true;  // guarded by mu
};

class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  virtual void Begin() = 0;
  // Thread-safe. force: close now. Otherwise close if idle, else after the current response.
  virtual void RequestShutdown(bool force) = 0;
  // Thread-safe: queues `response` for request number `seq` on the connection's strand.
  virtual void PostResponse(ServerResponse response, uint64_t seq) = 0;
};

// Shared by every copy of one request's Responder.
struct ResponseSlot {
  std::weak_ptr<SessionBase> session;
  std::shared_ptr<Gate> gate;
  uint64_t seq = 0;
  std::atomic<bool> done{false};

  void Deliver(ServerResponse response) {
    if (done.exchange(true)) return;
    std::lock_guard<std::mutex> lock(gate->mu);
    if (!gate->open) return;
    if (auto s = session.lock()) s->PostResponse(std::move(response), seq);
  }
  ~ResponseSlot() {
    if (!done.load()) {
      Deliver(ServerResponse::ErrorWithStatus(500, ErrorCode::kInternal,
                                              "the handler dropped the request without answering"));
    }
  }
};

bool IsParseError(const beast::error_code& ec) {
  static const auto& category = bhttp::make_error_code(bhttp::error::bad_method).category();
  return ec.category() == category;
}

bool IsHeaderNameToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool HasControl(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

std::string EndpointString(const tcp::endpoint& ep) {
  const auto addr = ep.address();
  if (addr.is_v6()) return fmt::format("[{}]:{}", addr.to_string(), ep.port());
  return fmt::format("{}:{}", addr.to_string(), ep.port());
}

}  // namespace

struct HttpServer::Impl {
  ServerOptions options;
  Router router;
  // Declared first so it is destroyed last: connections still queued in it die with it.
  net::io_context ioc;
  std::optional<ssl::context> ssl_ctx;
  std::optional<net::strand<net::io_context::executor_type>> accept_strand;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_retry;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
  uint16_t port = 0;

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<SessionBase*, std::shared_ptr<SessionBase>> sessions;  // guarded by mu
  bool accepting = true;                                                    // guarded by mu

  std::mutex stop_mu;
  bool stopped = false;  // guarded by stop_mu

  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> tls_failures{0};

  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void Unregister(SessionBase* s) {
    std::lock_guard<std::mutex> lock(mu);
    sessions.erase(s);
    cv.notify_all();
  }
  void Observe(std::string_view method, std::string_view route, int status, Clock::time_point t0) {
    requests.fetch_add(1, std::memory_order_relaxed);
    if (!options.observer) return;
    RequestObservation o;
    o.method = method;
    o.route = route;
    o.status = status;
    o.duration = Clock::now() - t0;
    try {
      options.observer(o);
    } catch (...) {
      // An observer must not take a connection down.
    }
  }
};

namespace {

template <typename Stream>
class Session final : public SessionBase {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  template <typename... StreamArgs>
  Session(HttpServer::Impl* server, std::string remote, StreamArgs&&... args)
      : server_(server),
        stream_(std::forward<StreamArgs>(args)...),
        executor_(beast::get_lowest_layer(stream_).get_executor()),
        remote_(std::move(remote)) {}

  void Begin() override {
    net::dispatch(executor_, [self = Self()] {
      if constexpr (kTls) {
        self->state_ = State::kHandshake;
        self->Lowest().expires_after(self->server_->options.read_timeout);
        self->stream_.async_handshake(ssl::stream_base::server,
                                      [self](beast::error_code ec) { self->OnHandshake(ec); });
      } else {
        self->WaitForRequest();
      }
    });
  }

  void RequestShutdown(bool force) override {
    net::post(executor_, [self = Self(), force] {
      if (force) {
        self->Close();
        return;
      }
      self->closing_ = true;
      if (self->state_ == State::kIdle || self->state_ == State::kHandshake) self->Close();
    });
  }

  void PostResponse(ServerResponse response, uint64_t seq) override {
    net::post(executor_, [self = Self(), response = std::move(response), seq]() mutable {
      if (self->state_ != State::kHandling || seq != self->seq_) return;
      self->Write(std::move(response), self->keep_alive_);
    });
  }

 private:
  enum class State { kHandshake, kIdle, kReading, kHandling, kWriting, kLingering, kClosed };

  std::shared_ptr<Session> Self() {
    return std::static_pointer_cast<Session>(this->shared_from_this());
  }
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  const ServerOptions& options() const { return server_->options; }

  void OnHandshake(beast::error_code ec) {
    if (state_ == State::kClosed) return;
    if (ec) {
      server_->tls_failures.fetch_add(1, std::memory_order_relaxed);
      log::Debug("http.server.tls_handshake_failed",
                 {{"remote", remote_}, {"error", ec.message()}});
      Close();
      return;
    }
    WaitForRequest();
  }

  // Waits (up to idle_timeout) for the first byte of the next request, then reads it under
  // read_timeout, so a slow sender gets read_timeout and a quiet keep-alive peer idle_timeout.
  // The first byte is read through the stream (not by waiting on the socket): with TLS, bytes
  // already received may sit in the TLS layer's buffers while the socket is not readable.
  void WaitForRequest() {
    if (closing_) {
      Close();
      return;
    }
    state_ = State::kIdle;
    if (buffer_.size() > 0) {  // a pipelined request is already here
      ReadHeader();
      return;
    }
    Lowest().expires_after(options().idle_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstRead),
                            [self = Self()](beast::error_code ec, size_t n) {
                              if (self->state_ != State::kIdle) return;
                              self->buffer_.commit(n);
                              if (ec) {
                                self->Close();
                                return;
                              }
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    state_ = State::kReading;
    started_ = Clock::now();
    method_.clear();
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(options().max_header_bytes));
    parser_->body_limit(options().max_body_bytes);
    Lowest().expires_after(options().read_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = Self()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (state_ == State::kClosed) return;
    if (ec) {
      OnReadError(ec);
      return;
    }
    const auto& req = parser_->get();
    method_ = std::string(req.method_string());
    if (beast::iequals(req[bhttp::field::expect], "100-continue") && !parser_->is_done()) {
      continue_ = {bhttp::status::continue_, req.version()};
      Lowest().expires_after(options().write_timeout);
      bhttp::async_write(stream_, continue_, [self = Self()](beast::error_code ec, size_t) {
        if (self->state_ == State::kClosed) return;
        if (ec) {
          self->Close();
          return;
        }
        self->ReadBody();
      });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) {
      OnRequest();
      return;
    }
    Lowest().expires_after(options().read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_, [self = Self()](beast::error_code ec, size_t) {
      if (self->state_ == State::kClosed) return;
      if (ec) {
        self->OnReadError(ec);
        return;
      }
      self->OnRequest();
    });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      Write(
          ServerResponse::ErrorWithStatus(
              413, ErrorCode::kResourceExhausted,
              fmt::format("request body exceeds the limit of {} bytes", options().max_body_bytes)),
          false);
    } else if (ec == bhttp::error::header_limit) {
      Write(ServerResponse::ErrorWithStatus(
                431, ErrorCode::kResourceExhausted,
                fmt::format("request header section exceeds {} bytes", options().max_header_bytes)),
            false);
    } else if (IsParseError(ec) && ec != bhttp::error::end_of_stream &&
               ec != bhttp::error::partial_message) {
      Write(
          ServerResponse::ErrorWithStatus(400, ErrorCode::kInvalidArgument,
                                          fmt::format("malformed HTTP request: {}", ec.message())),
          false);
    } else {
      // EOF, reset, TLS truncation, read timeout: nobody to answer, or not worth answering.
      if (ec == beast::error::timeout) {
        log::Debug("http.server.read_timeout", {{"remote", remote_}});
      }
      Close();
    }
  }

  void OnRequest() {
    state_ = State::kHandling;
    ++seq_;
    Lowest().expires_never();
    auto message = parser_->release();
    parser_.reset();
    keep_alive_ = message.keep_alive() && !closing_;

    ServerRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    if (request.target.empty() || request.target.front() != '/') {
      Write(ServerResponse::ErrorWithStatus(
                400, ErrorCode::kInvalidArgument,
                "request-target must be an absolute path (origin-form, RFC 9112 §3.2.1)"),
            false);
      return;
    }
    size_t q = request.target.find('?');
    request.path = request.target.substr(0, q);
    if (q != std::string::npos) request.query = request.target.substr(q + 1);
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.remote_address = remote_;

    auto slot = std::make_shared<ResponseSlot>();
    slot->session = this->weak_from_this();
    slot->gate = server_->gate;
    slot->seq = seq_;
    // Dispatch runs the handler here, on the strand; an inline answer is posted, so it is written
    // after this function returns and route_ is already set.
    server_->router.Dispatch(request, [slot](ServerResponse r) { slot->Deliver(std::move(r)); });
    route_ = std::move(request.route);
  }

  void Write(ServerResponse r, bool keep_alive) {
    state_ = State::kWriting;
    if (r.status < 200 || r.status > 599) {
      log::Error("http.server.bad_status", {{"route", route_}, {"status", r.status}});
      r = ServerResponse::ErrorWithStatus(500, ErrorCode::kInternal, "internal error");
    }
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(r.status));
    for (auto& [name, value] : r.headers) {
      if (!IsHeaderNameToken(name) || HasControl(value) || beast::iequals(name, "Content-Length") ||
          beast::iequals(name, "Transfer-Encoding") || beast::iequals(name, "Connection")) {
        log::Warn("http.server.header_dropped", {{"route", route_}, {"header", name}});
        continue;
      }
      response_.insert(name, value);
    }
    if (r.status == 204 || r.status == 304) {
      r.body.clear();
    }
    response_.body() = std::move(r.body);
    response_.keep_alive(keep_alive && !closing_);
    if (r.status != 204 && r.status != 304) response_.prepare_payload();
    status_ = r.status;
    Lowest().expires_after(options().write_timeout);
    bhttp::async_write(stream_, response_,
                       [self = Self()](beast::error_code ec, size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    server_->Observe(method_, route_, status_, started_);
    route_.clear();
    if (state_ == State::kClosed) return;
    if (ec) {
      Close();
      return;
    }
    if (!response_.keep_alive()) {
      Linger();
      return;
    }
    WaitForRequest();
  }

  // Half-closes and discards what the client still sends (its unread body) until it closes, so
  // it reads our answer rather than a reset. Bounded in bytes and time.
  void Linger() {
    state_ = State::kLingering;
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Lowest().expires_after(std::min(kMaxLinger, options().read_timeout));
    DrainSome();
  }

  void DrainSome() {
    Lowest().async_read_some(net::buffer(drain_), [self = Self()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kMaxLingerBytes || self->state_ != State::kLingering) {
        self->Close();
        return;
      }
      self->DrainSome();
    });
  }

  void Close() {
    if (state_ == State::kClosed) return;
    auto keep = Self();  // Unregister may drop the registry's reference
    state_ = State::kClosed;
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().socket().close(ignored);
    server_->Unregister(this);
  }

  HttpServer::Impl* server_;
  Stream stream_;
  net::any_io_executor executor_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::empty_body> continue_;
  bhttp::response<bhttp::string_body> response_;
  std::array<char, 4096> drain_{};
  size_t drained_ = 0;
  State state_ = State::kIdle;
  bool closing_ = false;
  bool keep_alive_ = false;
  uint64_t seq_ = 0;
  int status_ = 0;
  std::string method_;
  std::string route_;
  Clock::time_point started_ = Clock::now();
};

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void HttpServer::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
  if (ec) {
    // EMFILE and friends: back off instead of spinning on the failing accept.
    log::Warn("http.server.accept_failed", {{"error", ec.message()}});
    accept_retry->expires_after(std::chrono::milliseconds(100));
    accept_retry->async_wait([this](beast::error_code e) {
      if (!e && acceptor->is_open()) Accept();
    });
    return;
  }
  beast::error_code opt_ec;
  socket.set_option(tcp::no_delay(true), opt_ec);
  tcp::endpoint remote = socket.remote_endpoint(opt_ec);
  std::string remote_text = opt_ec ? "unknown" : EndpointString(remote);

  std::shared_ptr<SessionBase> session;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!accepting || sessions.size() >= options.max_connections) {
      rejected.fetch_add(1, std::memory_order_relaxed);
      socket.close(opt_ec);
    } else {
      if (options.tls) {
        session = std::make_shared<Session<TlsStream>>(this, std::move(remote_text),
                                                       std::move(socket), *ssl_ctx);
      } else {
        session =
            std::make_shared<Session<PlainStream>>(this, std::move(remote_text), std::move(socket));
      }
      sessions.emplace(session.get(), session);
      accepted.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (session) session->Begin();
  Accept();
}

namespace {

Result<tcp::endpoint> ParseListenAddress(const std::string& text) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find("]:");
    if (close == std::string::npos) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("listen_address '{}': expected [ipv6]:port", text));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("listen_address '{}': expected ip:port", text));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  beast::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("listen_address '{}': '{}' is not an IP address (host names are "
                                 "not resolved here)",
                                 text, host));
  }
  unsigned long port_value = 0;
  bool digits = !port.empty() && port.size() <= 5 &&
                port.find_first_not_of("0123456789") == std::string::npos;
  if (digits) port_value = std::stoul(port);
  if (!digits || port_value > 65535) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("listen_address '{}': port must be 0..65535", text));
  }
  return tcp::endpoint(address, static_cast<uint16_t>(port_value));
}

Status ConfigureTls(ssl::context& ctx, const TlsMaterial& material) {
  SSL_CTX* native = ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    return MakeError(ErrorCode::kInternal, "OpenSSL refused TLS 1.2 as minimum version");
  }
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                  SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  beast::error_code ec;
  ctx.use_certificate_chain(net::buffer(material.cert_pem), ec);
  if (ec) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("TLS certificate chain rejected: {}", ec.message()));
  }
  ctx.use_private_key(net::buffer(material.key_pem.data(), material.key_pem.size()),
                      ssl::context::pem, ec);
  if (ec) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("TLS private key rejected: {}", ec.message()));
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return MakeError(ErrorCode::kInvalidArgument, "TLS private key does not match the certificate");
  }
  return OkStatus();
}

}  // namespace

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

ServerStats HttpServer::stats() const {
  ServerStats s;
  s.connections_accepted = impl_->accepted.load();
  s.connections_rejected = impl_->rejected.load();
  s.requests = impl_->requests.load();
  s.tls_handshake_failures = impl_->tls_failures.load();
  std::lock_guard<std::mutex> lock(impl_->mu);
  s.connections_open = impl_->sessions.size();
  return s;
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(ServerOptions options, Router router) {
  if (options.max_body_bytes == 0 || options.max_header_bytes == 0 ||
      options.max_connections == 0 || options.io_threads < 1 || options.read_timeout.count() <= 0 ||
      options.write_timeout.count() <= 0 || options.idle_timeout.count() <= 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "server options: limits and timeouts must be positive and io_threads >= 1");
  }
  VIGIE_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ParseListenAddress(options.listen_address));
  if (!options.tls && !endpoint.address().is_loopback() && !options.allow_plaintext_non_loopback) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("refusing plain HTTP on non-loopback address {}: enable TLS or "
                                 "set allow_plaintext_non_loopback",
                                 options.listen_address));
  }
  try {
    auto impl = std::make_shared<Impl>();
    impl->options = std::move(options);
    impl->router = std::move(router);
    if (impl->options.tls) {
      impl->ssl_ctx.emplace(ssl::context::tls_server);
      VIGIE_RETURN_IF_ERROR(ConfigureTls(*impl->ssl_ctx, impl->options.tls_material));
    }
    impl->accept_strand.emplace(net::make_strand(impl->ioc));
    impl->acceptor.emplace(*impl->accept_strand);
    impl->accept_retry.emplace(*impl->accept_strand);
    beast::error_code ec;
    auto fail = [&](std::string_view step) {
      return MakeError(
          ErrorCode::kUnavailable,
          fmt::format("cannot {} {}: {}", step, impl->options.listen_address, ec.message()));
    };
    impl->acceptor->open(endpoint.protocol(), ec);
    if (ec) return fail("open a socket for");
    impl->acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (ec) return fail("set SO_REUSEADDR on");
    impl->acceptor->bind(endpoint, ec);
    if (ec) return fail("bind");
    impl->acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return fail("listen on");
    impl->port = impl->acceptor->local_endpoint(ec).port();
    if (ec) return fail("read the bound port of");

    impl->work.emplace(impl->ioc.get_executor());
    net::post(*impl->accept_strand, [raw = impl.get()] { raw->Accept(); });
    for (int i = 0; i < impl->options.io_threads; ++i) {
      impl->threads.emplace_back([raw = impl.get()] {
        for (;;) {
          try {
            raw->ioc.run();
            return;
          } catch (const std::exception& e) {
            log::Error("http.server.io_exception", {{"what", e.what()}});
          }
        }
      });
    }
    log::Info("http.server.started",
              {{"address", EndpointString(tcp::endpoint(endpoint.address(), impl->port))},
               {"port", impl->port},
               {"tls", impl->options.tls}});
    return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, fmt::format("starting the HTTP server: {}", e.what()));
  }
}

void HttpServer::Stop(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.stop_mu);
    if (s.stopped) return;
    s.stopped = true;
  }
  // 1. Stop accepting (on the acceptor's strand: the acceptor is not thread-safe).
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.accepting = false;
  }
  std::promise<void> closed;
  net::post(*s.accept_strand, [&s, &closed] {
    beast::error_code ignored;
    s.acceptor->close(ignored);
    s.accept_retry->cancel();
    closed.set_value();
  });
  closed.get_future().wait();

  // 2. Close idle connections; the others close after their current response.
  auto snapshot = [&s] {
    std::vector<std::shared_ptr<SessionBase>> out;
    std::lock_guard<std::mutex> lock(s.mu);
    for (auto& [raw, session] : s.sessions) out.push_back(session);
    return out;
  };
  for (auto& session : snapshot()) session->RequestShutdown(false);
  const auto deadline = Clock::now() + grace;
  size_t forced = 0;
  {
    std::unique_lock<std::mutex> lock(s.mu);
    s.cv.wait_until(lock, deadline, [&s] { return s.sessions.empty(); });
    forced = s.sessions.size();
  }
  // 3. Past the grace period: close whatever is left.
  if (forced > 0) {
    for (auto& session : snapshot()) session->RequestShutdown(true);
    std::unique_lock<std::mutex> lock(s.mu);
    s.cv.wait_for(lock, std::chrono::seconds(1), [&s] { return s.sessions.empty(); });
  }
  // 4. From here on a Responder posts nothing.
  {
    std::lock_guard<std::mutex> lock(s.gate->mu);
    s.gate->open = false;
  }
  s.work.reset();
  s.ioc.stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.sessions.clear();
  }
  log::Info("http.server.stopped", {{"port", s.port}, {"forced_connections", forced}});
}

}  // namespace vigie::http
