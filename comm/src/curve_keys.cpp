#include "v2x/comm/curve_keys.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace v2x::comm {
namespace {
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

void write_file_mode(const std::string& path, const std::string& text, mode_t mode, bool overwrite) {
  const int flags = O_WRONLY | O_CREAT | O_TRUNC | (overwrite ? 0 : O_EXCL);
  const int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) {
    throw std::runtime_error("cannot write key file '" + path + "': " + std::strerror(errno) +
                             (errno == EEXIST ? " (use --force to overwrite)" : ""));
  }
  ::fchmod(fd, mode);  // an existing file keeps its old mode on O_TRUNC
  const std::string body = text + "\n";
  const ssize_t n = ::write(fd, body.data(), body.size());
  const bool ok = n == static_cast<ssize_t>(body.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write key file '" + path + "'");
}
}  // namespace

CurveKeyPair generate_curve_keypair() {
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0)
    throw std::runtime_error(std::string("zmq_curve_keypair failed (libzmq without CURVE?): ") + zmq_strerror(errno));
  return {pub, sec};
}

bool is_z85_key(const std::string& z85) {
  if (z85.size() != 40) return false;
  std::uint8_t out[32];
  return zmq_z85_decode(out, z85.c_str()) != nullptr;
}

std::string curve_public_of(const std::string& secret_z85) {
  char pub[41];
  if (!is_z85_key(secret_z85) || zmq_curve_public(pub, secret_z85.c_str()) != 0)
    throw std::runtime_error("not a valid CURVE secret key");
  return pub;
}

void write_keypair(const CurveKeyPair& keys, const std::string& dir, const std::string& name, bool overwrite) {
  std::filesystem::create_directories(dir);
  const std::string base = (std::filesystem::path(dir) / name).string();
  write_file_mode(base + ".key", keys.secret_z85, 0600, overwrite);
  write_file_mode(base + ".pub", keys.public_z85, 0644, overwrite);
}

std::string read_key_file(const std::string& path, bool secret) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("cannot read key file '" + path + "': " + std::strerror(errno));
  if (secret && (st.st_mode & 077) != 0)
    throw std::runtime_error("secret key file '" + path + "' is readable by group/others (chmod 600 it)");
  if (st.st_size > 4096) throw std::runtime_error("key file '" + path + "' is not a Z85 key (too large)");
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read key file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string key = trim(ss.str());
  if (!is_z85_key(key)) throw std::runtime_error("key file '" + path + "' does not hold a 40-character Z85 CURVE key");
  return key;
}

ZapAuthenticator::ZapAuthenticator(std::shared_ptr<zmq::context_t> ctx)
    : ctx_(std::move(ctx)), rep_(*ctx_, zmq::socket_type::rep) {
  rep_.set(zmq::sockopt::linger, 0);
  try {
    rep_.bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error(std::string("ZAP handler: cannot bind ") + kZapEndpoint + ": " + e.what());
  }
  thread_ = std::thread([this] { run(); });
}

ZapAuthenticator::~ZapAuthenticator() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ZapAuthenticator::allow(const std::string& domain, const std::string& public_z85, const std::string& user_id) {
  std::lock_guard lock(mutex_);
  allowed_[{domain, public_z85}] = user_id;
}

void ZapAuthenticator::revoke(const std::string& domain, const std::string& public_z85) {
  std::lock_guard lock(mutex_);
  allowed_.erase({domain, public_z85});
}

ZapStats ZapAuthenticator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void ZapAuthenticator::run() {
  while (!stop_) {
    zmq::pollitem_t item{rep_.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
    } catch (const zmq::error_t&) {
      return;  // context terminated
    }
    if (!(item.revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> req;
    try {
      while (true) {
        zmq::message_t m;
        if (!rep_.recv(m, zmq::recv_flags::none)) break;
        const bool more = m.more();
        if (req.size() < 16) req.push_back(std::move(m));  // RFC 27 requests have ≤ 7 + n credential frames
        if (!more) break;
      }
    } catch (const zmq::error_t&) {
      return;
    }
    // Request: version, request id, domain, address, identity, mechanism, credentials…
    const auto str = [&](std::size_t i) { return i < req.size() ? req[i].to_string() : std::string(); };
    std::string status = "400", text = "refused", user;
    std::string key_z85;
    if (req.size() >= 7 && str(0) == "1.0" && str(5) == "CURVE" && req[6].size() == 32) {
      char z85[41];
      zmq_z85_encode(z85, static_cast<const std::uint8_t*>(req[6].data()), 32);
      key_z85 = z85;
      std::lock_guard lock(mutex_);
      const auto it = allowed_.find({str(2), key_z85});
      if (it != allowed_.end()) {
        status = "200";
        text = "OK";
        user = it->second;
        ++stats_.accepted;
      } else {
        ++stats_.refused;
        stats_.last_refused_key = key_z85;
      }
    } else {
      std::lock_guard lock(mutex_);
      ++stats_.refused;
    }
    if (status != "200") {
      spdlog::warn("security: refused a {} connection from {} (domain '{}', key {})", str(5).empty() ? "?" : str(5),
                   str(3), str(2), key_z85.empty() ? "-" : key_z85);
    }
    try {
      const auto more = zmq::send_flags::sndmore;
      rep_.send(zmq::buffer(std::string("1.0")), more);
      rep_.send(zmq::buffer(str(1)), more);
      rep_.send(zmq::buffer(status), more);
      rep_.send(zmq::buffer(text), more);
      rep_.send(zmq::buffer(user), more);
      rep_.send(zmq::message_t(), zmq::send_flags::none);  // metadata: none
    } catch (const zmq::error_t&) {
      return;
    }
  }
}

}  // namespace v2x::comm
