// The key broker over HTTP (cpp-httplib): the routes of key_broker.h, the session in the
// `kbs-session-id` cookie (as Trustee's KBS), errors as {"error": ...}, bodies bounded.
//
//   KeyBrokerHttp http(broker, "127.0.0.1", 8100);
//   int port = http.bind();  http.serve();   // until stop()
#pragma once

#include <memory>
#include <string>

#include "keybroker/key_broker.h"

namespace httplib {
class Server;
}

namespace teeinfer::keybroker {

class KeyBrokerHttp {
 public:
  KeyBrokerHttp(KeyBroker& broker, std::string host, int port);
  ~KeyBrokerHttp();
  // Binds (port 0: any free port) and returns the port; throws Error(kIo) if it cannot.
  int bind();
  bool serve();  // blocks until stop(); false if the listener failed
  void stop();

  static constexpr size_t kMaxBodyBytes = 256 * 1024;  // a quote in hex is under 130 KiB

 private:
  KeyBroker& broker_;
  std::string host_;
  int port_;
  std::unique_ptr<httplib::Server> http_;
};

}  // namespace teeinfer::keybroker
