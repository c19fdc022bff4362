#include "keybroker/key_broker_http.h"

#include <httplib.h>

namespace teeinfer::keybroker {
namespace {

constexpr const char* kCookie = "kbs-session-id";

std::string session_of(const httplib::Request& req) {
  std::string cookies = req.get_header_value("Cookie");
  std::string key = std::string(kCookie) + "=";
  for (size_t pos = 0; pos < cookies.size();) {
    size_t end = cookies.find(';', pos);
    if (end == std::string::npos) end = cookies.size();
    size_t start = cookies.find_first_not_of(' ', pos);
    if (start < end && cookies.compare(start, key.size(), key) == 0)
      return cookies.substr(start + key.size(), end - start - key.size());
    pos = end + 1;
  }
  return "";
}

void answer(httplib::Response& res, const Reply& reply) {
  res.status = reply.status;
  if (!reply.session.empty())
    res.set_header("Set-Cookie", std::string(kCookie) + "=" + reply.session + "; Path=/kbs; HttpOnly; SameSite=Strict");
  res.set_content(reply.body.dump(), "application/json");
}

void error(httplib::Response& res, int status, const std::string& message) {
  answer(res, Reply{status, nlohmann::json{{"error", message}}, ""});
}

}  // namespace

KeyBrokerHttp::KeyBrokerHttp(KeyBroker& broker, std::string host, int port)
    : broker_(broker), host_(std::move(host)), port_(port), http_(std::make_unique<httplib::Server>()) {
  httplib::Server& s = *http_;
  s.set_payload_max_length(kMaxBodyBytes);
  s.set_read_timeout(10, 0);
  // httplib bounds only Content-Length bodies: a chunked or length-less POST is refused
  // before its body is read (it would otherwise be read whole, however long).
  s.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "POST" || (!req.has_header("Transfer-Encoding") && req.has_header("Content-Length")))
      return httplib::Server::HandlerResponse::Unhandled;
    error(res, 411, "a POST needs a Content-Length (chunked bodies are not accepted)");
    res.set_header("Connection", "close");
    return httplib::Server::HandlerResponse::Handled;
  });
  s.Post("/kbs/v0/auth", [this](const httplib::Request& req, httplib::Response& res) {
    answer(res, broker_.auth(req.body, req.remote_addr));
  });
  s.Post("/kbs/v0/attest", [this](const httplib::Request& req, httplib::Response& res) {
    answer(res, broker_.attest(session_of(req), req.body, req.remote_addr));
  });
  s.Get(R"(/kbs/v0/resource/teeinfer/model-key/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!req.has_param("version")) return error(res, 400, "?version= (the model version the enclave opens) is missing");
    answer(res, broker_.resource(session_of(req), req.matches[1], req.get_param_value("version"), req.remote_addr));
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      error(res, 500, std::string("key broker: ") + e.what());
    } catch (...) {
      error(res, 500, "key broker: unknown failure");
    }
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      std::string why = res.status == 404   ? "no such route (POST /kbs/v0/auth, POST /kbs/v0/attest, GET "
                                              "/kbs/v0/resource/teeinfer/model-key/<model id>?version=N)"
                        : res.status == 413 ? "request body over 256 KiB"
                                            : "request refused";
      error(res, res.status, why);
    }
  });
}

KeyBrokerHttp::~KeyBrokerHttp() = default;

int KeyBrokerHttp::bind() {
  int port = port_ == 0 ? http_->bind_to_any_port(host_) : (http_->bind_to_port(host_, port_) ? port_ : -1);
  if (port < 0) throw Error(ErrorCode::kIo, "keyserver: cannot listen on " + host_ + ":" + std::to_string(port_));
  port_ = port;
  return port;
}

bool KeyBrokerHttp::serve() {
  return http_->listen_after_bind();
}

void KeyBrokerHttp::stop() {
  http_->stop();
}

}  // namespace teeinfer::keybroker
