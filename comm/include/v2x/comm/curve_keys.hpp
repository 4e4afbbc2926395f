#pragma once
// CurveZMQ key material and the ZAP handler that enforces an allow-list (docs/security.md).
//
// Keys are Z85 text (40 characters for a 32-byte Curve25519 key), one key per file, as zmq_curve_keypair
// produces them: `<name>.pub` (public, shareable) and `<name>.key` (secret, file mode 0600).
//
// ZapAuthenticator answers ZeroMQ's ZAP protocol (RFC 27) on inproc://zeromq.zap.01 of one context: a CURVE
// client whose public key is on the allow-list of the request's ZAP domain is accepted with User-Id = the
// name the allow-list gives that key (a node id as decimal text), every other request is refused (status 400)
// and counted. Only sockets with curve_server = 1 and a ZAP domain ask the handler (libzmq ≥ 4.3 with
// ZMQ_ZAP_ENFORCE_DOMAIN; we always set a domain).
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <zmq.hpp>

namespace v2x::comm {

struct CurveKeyPair {
  std::string public_z85;  // 40 characters
  std::string secret_z85;  // 40 characters
};

// A fresh key pair from libsodium via zmq_curve_keypair. Throws std::runtime_error when libzmq was built
// without CURVE support.
CurveKeyPair generate_curve_keypair();

// True when `z85` is a 40-character Z85 string that decodes to 32 bytes.
bool is_z85_key(const std::string& z85);

// Writes DIR/<name>.pub (0644) and DIR/<name>.key (0600, created with that mode: never world-readable).
// Refuses to overwrite an existing key file unless `overwrite`. Throws std::runtime_error naming the file.
void write_keypair(const CurveKeyPair& keys, const std::string& dir, const std::string& name = "node",
                   bool overwrite = false);

// Reads one Z85 key from a file (surrounding whitespace ignored). Throws std::runtime_error naming the file
// when it cannot be read or does not hold exactly one valid key. A secret key file readable by group/others
// is refused too (`secret` = true), like ssh does.
std::string read_key_file(const std::string& path, bool secret = false);

// The public key of a secret key (zmq_curve_public).
std::string curve_public_of(const std::string& secret_z85);

struct ZapStats {
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;         // unknown key, wrong mechanism or malformed request
  std::string last_refused_key;      // Z85 of the last refused CURVE key (empty for other mechanisms)
};

class ZapAuthenticator {
 public:
  // Binds inproc://zeromq.zap.01 on `ctx` (throws std::runtime_error when another handler holds it) and
  // answers requests on a background thread until destroyed.
  explicit ZapAuthenticator(std::shared_ptr<zmq::context_t> ctx);
  ~ZapAuthenticator();
  ZapAuthenticator(const ZapAuthenticator&) = delete;
  ZapAuthenticator& operator=(const ZapAuthenticator&) = delete;

  // Allows `public_z85` on `domain`, authenticated as `user_id` (thread-safe; takes effect on the next
  // handshake). Adding a key again replaces its user id.
  void allow(const std::string& domain, const std::string& public_z85, const std::string& user_id);
  void revoke(const std::string& domain, const std::string& public_z85);
  ZapStats stats() const;

 private:
  void run();

  std::shared_ptr<zmq::context_t> ctx_;
  zmq::socket_t rep_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::string> allowed_;  // (domain, key) → user id
  ZapStats stats_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace v2x::comm
