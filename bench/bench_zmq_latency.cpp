// ZeroMQ loopback latency between two PROCESSES: the parent publishes 8 KB wire-v1 messages on 127.0.0.1, a
// forked child (its own ZeroMQ context, created after fork) echoes each one back; one-way latency is estimated
// as RTT / 2. Usage: bench_zmq_latency [round_trips=2000] [bytes=8192]. Prints p50 / p99 / max.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "v2x/comm/zmq_transport.hpp"

using namespace v2x;
using namespace v2x::comm;

namespace {
void write_line(int fd, const std::string& s) {
  const std::string l = s + "\n";
  if (write(fd, l.data(), l.size()) != static_cast<ssize_t>(l.size())) std::exit(3);
}
std::string read_line(int fd) {
  std::string s;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') s += c;
  return s;
}
constexpr TimestampNs kSecond = 1'000'000'000;
}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  const std::size_t bytes = argc > 2 ? static_cast<std::size_t>(std::atol(argv[2])) : 8192;
  int to_child[2], to_parent[2];
  if (pipe(to_child) != 0 || pipe(to_parent) != 0) return 1;
  const pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {  // echo peer
    ZmqTransport b(2, {});
    write_line(to_parent[1], b.endpoint());
    b.connect(read_line(to_child[0]));
    while (true) {
      auto got = b.poll(b.now_ns() + 5 * kSecond, 1);
      if (got.empty()) return 4;
      if (got[0].bytes.size() == 1) return 0;  // quit
      std::vector<Bytes> echo;
      for (auto& d : got) echo.push_back(std::move(d.bytes));
      b.send(echo);
    }
  }
  ZmqTransport a(1, {});
  write_line(to_child[1], a.endpoint());
  a.connect(read_line(to_parent[0]));
  Bytes msg(bytes);
  for (std::size_t i = 0; i < bytes; ++i) msg[i] = static_cast<std::uint8_t>(i * 131 + 7);
  // Warm-up: PUB/SUB joins asynchronously in both directions.
  bool up = false;
  for (int i = 0; i < 500 && !up; ++i) {
    a.send(msg);
    up = !a.poll(a.now_ns() + 10'000'000, 1).empty();
  }
  if (!up) {
    std::fprintf(stderr, "peer did not answer\n");
    return 2;
  }
  for (int i = 0; i < 200; ++i) {  // drain + warm caches
    a.send(msg);
    a.poll(a.now_ns() + kSecond, 1);
  }
  std::vector<double> rtt_us;
  int lost = 0;
  for (int i = 0; i < n; ++i) {
    const TimestampNs t0 = a.now_ns();
    a.send(msg);
    auto got = a.poll(t0 + kSecond, 1);
    const TimestampNs t1 = a.now_ns();
    if (got.empty() || got[0].bytes.size() != bytes) {
      ++lost;
      continue;
    }
    rtt_us.push_back(static_cast<double>(t1 - t0) * 1e-3);
  }
  a.send(Bytes{0});
  int status = 0;
  waitpid(pid, &status, 0);
  std::sort(rtt_us.begin(), rtt_us.end());
  const auto pct = [&](double p) { return rtt_us[std::min(rtt_us.size() - 1, static_cast<std::size_t>(p * static_cast<double>(rtt_us.size())))]; };
  std::printf("zmq PUB/SUB tcp://127.0.0.1, two processes, %zu-byte messages, %zu round trips (%d lost)\n", bytes,
              rtt_us.size(), lost);
  std::printf("round trip  us: p50 %.1f  p99 %.1f  max %.1f\n", pct(0.5), pct(0.99), rtt_us.back());
  std::printf("one-way (RTT/2) us: p50 %.1f  p99 %.1f\n", pct(0.5) / 2, pct(0.99) / 2);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 5;
}
