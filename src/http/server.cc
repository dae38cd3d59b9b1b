// HttpServer over Boost.Beast/Asio + OpenSSL. This is the only translation unit that includes
// Beast (compile time on 2 cores): router.cc and tls_material.cc stay Boost-free.
//
// Threads: one io_context per I/O thread, each constructed with concurrency hint 1 (its scheduler
// is run by one thread: completions queued from that thread skip the scheduler's lock; posts
// from other threads still lock). The acceptor lives on the first context and hands accepted
// sockets round-robin to the contexts (the socket is accepted with its target context's
// executor). A connection then lives on one thread: no strand; its executor is its context's.
//
// Per request (hot path): async_read_some into the connection's flat_buffer, then Beast's
// buffer-oriented basic_parser (RequestParser below) fills the connection's reused ServerRequest
// directly (no beast::http::fields copy); more is read only when the parser needs more. An answer
// given synchronously during Dispatch on the I/O thread is written right after Dispatch returns
// (no post); the response is serialized by hand into one string and written with one
// async_write. One steady_timer per connection enforces the deadlines lazily (see SetDeadline).
//
// Ownership: the server's registry (Impl::sessions) owns every open connection; pending async
// operations hold extra references (shared_from_this). A Responder holds only a weak reference
// plus the server's Gate, so a handler that answers after the connection or the server is gone
// posts nothing, and no connection can outlive the io_context its socket belongs to.

#include "http/server.h"

#include <fmt/format.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <charconv>
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

// Concrete executor types everywhere (no any_io_executor type erasure on the hot path).
using Executor = net::io_context::executor_type;
using Socket = net::basic_stream_socket<tcp, Executor>;
using Acceptor = net::basic_socket_acceptor<tcp, Executor>;
using Timer = net::basic_waitable_timer<Clock, net::wait_traits<Clock>, Executor>;
using PlainStream = Socket;
using TlsStream = ssl::stream<Socket>;

// Bytes read and discarded after an error answer before closing, so the client reads the answer
// instead of a TCP reset caused by its unread request body (a "lingering close").
constexpr size_t kMaxLingerBytes = 1 << 20;
constexpr std::chrono::milliseconds kMaxLinger{2000};
// Bounds of one read into the connection's buffer.
constexpr size_t kMinRead = 4096;
constexpr size_t kMaxRead = 64 * 1024;
// Response bodies up to this size are copied behind the header (one buffer, one TLS record
// sequence); larger ones are written from the response itself as a second buffer.
constexpr size_t kMaxCopiedBody = 16 * 1024;
// A request body buffer larger than this is released after its request instead of being kept
// for the connection's next request.
constexpr size_t kMaxKeptBody = 64 * 1024;
constexpr Clock::time_point kNever = Clock::time_point::max();

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
  // Thread-safe: queues `response` for request number `seq` on the connection's thread.
  virtual void PostResponse(ServerResponse response, uint64_t seq) = 0;
};

struct ResponseSlot;

// Set by a connection on its I/O thread for the duration of Router::Dispatch: a Responder of
// that very request called synchronously (on this thread, during the call) stores its answer in
// *out, and the connection writes it when Dispatch returns. Any other call posts.
struct InlineAnswer {
  const ResponseSlot* slot = nullptr;
  std::optional<ServerResponse>* out = nullptr;
};
thread_local InlineAnswer t_inline_answer;

// Shared by every copy of one request's Responder.
struct ResponseSlot {
  std::weak_ptr<SessionBase> session;
  std::shared_ptr<Gate> gate;
  uint64_t seq = 0;
  std::atomic<bool> done{false};

  void Deliver(ServerResponse response) {
    if (done.exchange(true)) return;
    if (t_inline_answer.slot == this) {
      // Synchronous answer during Dispatch, on the connection's own thread: the connection is
      // alive (it is below us on the stack) and writes it once Dispatch returns.
      t_inline_answer.out->emplace(std::move(response));
      return;
    }
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

// Restores the previous marker on scope exit (also when Dispatch throws).
class InlineAnswerScope {
 public:
  InlineAnswerScope(const ResponseSlot* slot, std::optional<ServerResponse>* out)
      : saved_(t_inline_answer) {
    t_inline_answer = {slot, out};
  }
  ~InlineAnswerScope() { t_inline_answer = saved_; }
  InlineAnswerScope(const InlineAnswerScope&) = delete;
  InlineAnswerScope& operator=(const InlineAnswerScope&) = delete;

 private:
  InlineAnswer saved_;
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

// Optional whitespace around a field value (as beast::http::fields stores values).
std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string EndpointString(const tcp::endpoint& ep) {
  const auto addr = ep.address();
  if (addr.is_v6()) return fmt::format("[{}]:{}", addr.to_string(), ep.port());
  return fmt::format("{}:{}", addr.to_string(), ep.port());
}

void AppendNumber(std::string& out, uint64_t value) {
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, result.ptr);
}

// Beast's buffer-oriented HTTP/1 request parser (framing, limits, chunked decoding), writing
// straight into a ServerRequest whose strings keep their capacity from one request to the next.
// Single use: one parser per request.
class RequestParser final : public bhttp::basic_parser<true> {
 public:
  explicit RequestParser(ServerRequest& out) : out_(out) {}

  int version() const { return version_; }
  // The first Expect field was "100-continue".
  bool expect_continue() const { return expect_continue_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target,
                       int version, beast::error_code&) override {
    out_.method.assign(method.data(), method.size());
    out_.target.assign(target.data(), target.size());
    version_ = version;
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = bhttp::error::bad_version;  // never called for a request parser
  }
  void on_field_impl(bhttp::field name, beast::string_view name_string, beast::string_view raw,
                     beast::error_code&) override {
    std::string_view value = TrimOws(std::string_view(raw.data(), raw.size()));
    if (name == bhttp::field::expect && !seen_expect_) {
      seen_expect_ = true;
      expect_continue_ = beast::iequals(value, "100-continue");
    }
    if (fields_ < out_.headers.size()) {
      auto& [n, v] = out_.headers[fields_];
      n.assign(name_string.data(), name_string.size());
      v.assign(value);
    } else {
      out_.headers.emplace_back(std::string(name_string.data(), name_string.size()),
                                std::string(value));
    }
    ++fields_;
  }
  void on_header_impl(beast::error_code&) override { out_.headers.resize(fields_); }
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         beast::error_code&) override {
    // Bounded by body_limit: the parser refused a larger Content-Length before this call.
    if (content_length) out_.body.reserve(static_cast<size_t>(*content_length));
  }
  size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  ServerRequest& out_;
  size_t fields_ = 0;
  int version_ = 11;
  bool seen_expect_ = false;
  bool expect_continue_ = false;
};

}  // namespace

struct HttpServer::Impl {
  ServerOptions options;
  Router router;
  // Declared first so they are destroyed last: connections still queued in them die with them.
  // One per I/O thread; contexts[0] also runs the acceptor. ~Impl destroys them in index order.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::optional<ssl::context> ssl_ctx;
  std::optional<Acceptor> acceptor;   // on contexts[0]
  std::optional<Timer> accept_retry;  // on contexts[0]
  size_t next_context = 0;            // round-robin cursor; only touched on contexts[0]
  std::vector<net::executor_work_guard<Executor>> work;
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

  ~Impl() {
    // Everything that refers to a context goes before the contexts. The acceptor's pending
    // accept (if any) holds a socket of another context: destroy the acceptor's context first.
    work.clear();
    accept_retry.reset();
    acceptor.reset();
    for (auto& c : contexts) c.reset();
  }

  void Accept();
  void OnAccept(beast::error_code ec, Socket socket);
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
  Session(HttpServer::Impl* server, std::string remote, Socket socket, StreamArgs&... args)
      : server_(server),
        executor_(socket.get_executor()),
        stream_(std::move(socket), args...),
        timer_(executor_) {
    request_.remote_address = std::move(remote);
  }

  void Begin() override {
    net::dispatch(executor_, [self = Self()] {
      if constexpr (kTls) {
        self->state_ = State::kHandshake;
        self->SetDeadline(self->options().read_timeout);
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
  Socket& Lowest() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }
  const ServerOptions& options() const { return server_->options; }

  // Deadlines: one timer per connection, armed lazily. A deadline later than the pending wait
  // only updates deadline_ (the wait, when it fires early, re-arms itself for deadline_); an
  // earlier one re-arms the timer. In steady keep-alive traffic this costs a timer operation
  // every read_timeout or so instead of two per I/O operation. Returns now.
  Clock::time_point SetDeadline(std::chrono::milliseconds timeout) {
    const Clock::time_point now = Clock::now();
    deadline_ = now + timeout;
    if (!timer_pending_ || deadline_ < armed_) Arm();
    return now;
  }
  void ClearDeadline() { deadline_ = kNever; }
  void Arm() {
    armed_ = deadline_;
    timer_pending_ = true;
    const uint64_t generation = ++timer_generation_;
    timer_.expires_at(deadline_);  // cancels a pending wait: its handler sees a stale generation
    timer_.async_wait(
        [self = Self(), generation](beast::error_code) { self->OnTimer(generation); });
  }
  void OnTimer(uint64_t generation) {
    if (generation != timer_generation_ || state_ == State::kClosed) return;
    timer_pending_ = false;
    if (deadline_ == kNever) return;
    if (Clock::now() < deadline_) {
      Arm();
      return;
    }
    // The deadline of the current phase passed: close (the pending operation completes with
    // operation_aborted and finds the connection closed).
    if (state_ == State::kHandshake) {
      server_->tls_failures.fetch_add(1, std::memory_order_relaxed);
      log::Debug("http.server.tls_handshake_failed",
                 {{"remote", request_.remote_address}, {"error", "timeout"}});
    } else if (state_ == State::kReading) {
      log::Debug("http.server.read_timeout", {{"remote", request_.remote_address}});
    }
    Close();
  }

  void OnHandshake(beast::error_code ec) {
    if (state_ == State::kClosed) return;
    if (ec) {
      server_->tls_failures.fetch_add(1, std::memory_order_relaxed);
      log::Debug("http.server.tls_handshake_failed",
                 {{"remote", request_.remote_address}, {"error", ec.message()}});
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
      StartRequest();
      return;
    }
    SetDeadline(options().idle_timeout);
    ReadSome();
  }

  void ReadSome() {
    const size_t room = buffer_.capacity() - buffer_.size();
    stream_.async_read_some(
        buffer_.prepare(std::clamp(room, kMinRead, kMaxRead)),
        [self = Self()](beast::error_code ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(beast::error_code ec, size_t n) {
    if (state_ != State::kIdle && state_ != State::kReading) return;  // closed meanwhile
    buffer_.commit(n);
    if (ec) {
      // EOF, reset, TLS truncation: nobody to answer (a partial request is dropped).
      Close();
      return;
    }
    if (state_ == State::kIdle) {
      StartRequest();
    } else {
      Parse();
    }
  }

  void StartRequest() {
    state_ = State::kReading;
    started_ = SetDeadline(options().read_timeout);
    header_done_ = false;
    request_.route.clear();
    if (request_.body.capacity() > kMaxKeptBody) {
      std::string().swap(request_.body);
    } else {
      request_.body.clear();
    }
    parser_.emplace(request_);
    parser_->header_limit(static_cast<uint32_t>(options().max_header_bytes));
    parser_->body_limit(options().max_body_bytes);
    parser_->eager(true);
    Parse();
  }

  // Feeds the buffered bytes to the parser until the request is complete, the parser needs more
  // (read, then come back) or it fails.
  void Parse() {
    for (;;) {
      if (buffer_.size() == 0) {
        ReadSome();
        return;
      }
      beast::error_code ec;
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_more) {
        ReadSome();
        return;
      }
      if (ec) {
        OnParseError(ec);
        return;
      }
      if (parser_->is_done()) {
        OnRequest();
        return;
      }
      if (parser_->is_header_done() && !header_done_) {
        header_done_ = true;
        if (parser_->expect_continue()) {
          SendContinue();
          return;
        }
        SetDeadline(options().read_timeout);  // the body gets its own read_timeout
      }
      if (used == 0) {  // defensive: the parser wants more than what is buffered
        ReadSome();
        return;
      }
    }
  }

  void SendContinue() {
    continue_line_ = parser_->version() == 10 ? "HTTP/1.0 100 Continue\r\n\r\n"
                                              : "HTTP/1.1 100 Continue\r\n\r\n";
    SetDeadline(options().write_timeout);
    net::async_write(stream_, net::buffer(continue_line_),
                     [self = Self()](beast::error_code ec, size_t) {
                       if (self->state_ == State::kClosed) return;
                       if (ec) {
                         self->Close();
                         return;
                       }
                       self->SetDeadline(self->options().read_timeout);
                       self->Parse();
                     });
  }

  void OnParseError(beast::error_code ec) {
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
    } else if (IsParseError(ec)) {
      Write(
          ServerResponse::ErrorWithStatus(400, ErrorCode::kInvalidArgument,
                                          fmt::format("malformed HTTP request: {}", ec.message())),
          false);
    } else {
      Close();
    }
  }

  void OnRequest() {
    state_ = State::kHandling;
    header_done_ = true;
    ++seq_;
    ClearDeadline();
    keep_alive_ = parser_->keep_alive() && !closing_;
    parser_.reset();

    ServerRequest& request = request_;
    if (request.target.empty() || request.target.front() != '/') {
      Write(ServerResponse::ErrorWithStatus(
                400, ErrorCode::kInvalidArgument,
                "request-target must be an absolute path (origin-form, RFC 9112 §3.2.1)"),
            false);
      return;
    }
    const size_t q = request.target.find('?');
    if (q == std::string::npos) {
      request.path.assign(request.target);
      request.query.clear();
    } else {
      request.path.assign(request.target, 0, q);
      request.query.assign(request.target, q + 1);
    }

    auto slot = std::make_shared<ResponseSlot>();
    slot->session = this->weak_from_this();
    slot->gate = server_->gate;
    slot->seq = seq_;
    std::optional<ServerResponse> inline_answer;
    {
      // The handler runs here, on this connection's thread. An answer given during the call
      // lands in inline_answer (so are the 500 of a handler that threw or dropped its
      // Responder); an answer given later or from another thread is posted (PostResponse).
      InlineAnswerScope scope(slot.get(), &inline_answer);
      server_->router.Dispatch(
          request, [slot = std::move(slot)](ServerResponse r) { slot->Deliver(std::move(r)); });
    }
    // request.route is set by now: written after Dispatch returned, the answer is observed
    // under its route.
    if (inline_answer) Write(std::move(*inline_answer), keep_alive_);
  }

  // Serializes the response (status line with the standard reason phrase, the handler's valid
  // headers, Connection: close when closing, Content-Length except for 204/304, body) into one
  // buffer and writes it.
  void Write(ServerResponse r, bool keep_alive) {
    state_ = State::kWriting;
    if (r.status < 200 || r.status > 599) {
      log::Error("http.server.bad_status", {{"route", request_.route}, {"status", r.status}});
      r = ServerResponse::ErrorWithStatus(500, ErrorCode::kInternal, "internal error");
    }
    keep_alive = keep_alive && !closing_;
    const bool has_body = r.status != 204 && r.status != 304;
    if (!has_body) r.body.clear();

    out_.clear();
    out_.append("HTTP/1.1 ");
    AppendNumber(out_, static_cast<uint64_t>(r.status));
    out_.push_back(' ');
    const beast::string_view reason = bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
    out_.append(reason.data(), reason.size());
    out_.append("\r\n");
    for (const auto& [name, value] : r.headers) {
      if (!IsHeaderNameToken(name) || HasControl(value) || beast::iequals(name, "Content-Length") ||
          beast::iequals(name, "Transfer-Encoding") || beast::iequals(name, "Connection")) {
        log::Warn("http.server.header_dropped", {{"route", request_.route}, {"header", name}});
        continue;
      }
      out_.append(name);
      out_.append(": ");
      out_.append(TrimOws(value));
      out_.append("\r\n");
    }
    if (!keep_alive) out_.append("Connection: close\r\n");
    if (has_body) {
      out_.append("Content-Length: ");
      AppendNumber(out_, r.body.size());
      out_.append("\r\n");
    }
    out_.append("\r\n");
    response_keep_alive_ = keep_alive;
    status_ = r.status;
    SetDeadline(options().write_timeout);
    if (r.body.size() <= kMaxCopiedBody) {
      out_.append(r.body);
      net::async_write(stream_, net::buffer(out_),
                       [self = Self()](beast::error_code ec, size_t) { self->OnWrite(ec); });
    } else {
      large_body_ = std::move(r.body);
      std::array<net::const_buffer, 2> buffers{net::buffer(out_), net::buffer(large_body_)};
      net::async_write(stream_, buffers,
                       [self = Self()](beast::error_code ec, size_t) { self->OnWrite(ec); });
    }
  }

  void OnWrite(beast::error_code ec) {
    server_->Observe(header_done_ ? std::string_view(request_.method) : std::string_view(),
                     request_.route, status_, started_);
    std::string().swap(large_body_);
    if (state_ == State::kClosed) return;
    if (ec) {
      Close();
      return;
    }
    if (!response_keep_alive_) {
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
    Lowest().shutdown(tcp::socket::shutdown_send, ignored);
    SetDeadline(std::min(kMaxLinger, options().read_timeout));
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
    ClearDeadline();
    timer_.cancel();
    beast::error_code ignored;
    Lowest().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close(ignored);
    server_->Unregister(this);
  }

  HttpServer::Impl* server_;
  Executor executor_;
  Stream stream_;
  Timer timer_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  // Reused from one request to the next (its strings keep their capacity). A handler sees it
  // only during its call (Handler's contract).
  ServerRequest request_;
  std::string out_;         // serialized response header (+ body when small)
  std::string large_body_;  // body written as a second buffer
  std::string_view continue_line_;
  std::array<char, 4096> drain_{};
  size_t drained_ = 0;
  State state_ = State::kIdle;
  bool closing_ = false;
  bool keep_alive_ = false;           // of the request being handled
  bool response_keep_alive_ = false;  // of the response being written
  bool header_done_ = false;          // the current request's header parsed without error
  uint64_t seq_ = 0;
  int status_ = 0;
  Clock::time_point started_ = Clock::now();
  Clock::time_point deadline_ = kNever;
  Clock::time_point armed_ = kNever;  // expiry of the pending wait (when timer_pending_)
  bool timer_pending_ = false;
  uint64_t timer_generation_ = 0;
};

}  // namespace

void HttpServer::Impl::Accept() {
  net::io_context& target = *contexts[next_context];
  next_context = (next_context + 1) % contexts.size();
  acceptor->async_accept(target.get_executor(), [this](beast::error_code ec, Socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void HttpServer::Impl::OnAccept(beast::error_code ec, Socket socket) {
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
    // Concurrency hint 1: each context is run by exactly one thread (see the file comment).
    for (int i = 0; i < impl->options.io_threads; ++i) {
      impl->contexts.push_back(std::make_unique<net::io_context>(1));
    }
    // The first connection goes to the second context (when there is one): the first also
    // runs the acceptor.
    impl->next_context = impl->contexts.size() > 1 ? 1 : 0;
    net::io_context& accept_context = *impl->contexts.front();
    impl->acceptor.emplace(accept_context.get_executor());
    impl->accept_retry.emplace(accept_context.get_executor());
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

    for (auto& context : impl->contexts) impl->work.emplace_back(context->get_executor());
    net::post(accept_context, [raw = impl.get()] { raw->Accept(); });
    for (auto& context : impl->contexts) {
      impl->threads.emplace_back([context = context.get()] {
        for (;;) {
          try {
            context->run();
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
  // 1. Stop accepting (on the acceptor's thread: the acceptor is not thread-safe).
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.accepting = false;
  }
  std::promise<void> closed;
  net::post(*s.contexts.front(), [&s, &closed] {
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
  s.work.clear();
  for (auto& context : s.contexts) context->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.sessions.clear();
  }
  log::Info("http.server.stopped", {{"port", s.port}, {"forced_connections", forced}});
}

}  // namespace vigie::http
