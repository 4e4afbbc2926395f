#pragma once
// Expected<T>: the result of a per-frame operation that may fail for a reason that must be counted,
// never thrown (corrupt message, stale peer, empty cloud). C++20 has no std::expected.
#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace v2x {

// Why a per-frame operation failed. Counted by reason in FrameStats.
enum class ErrorCode : int {
  Corrupt,          // bytes or file contents do not parse
  Truncated,        // shorter than its header says
  WrongVersion,     // unknown wire/format version
  BadChecksum,      // CRC mismatch
  OutOfRange,       // index/value outside the declared grid or limits
  Stale,            // older than the allowed age
  Unauthenticated,  // unknown sender key / replayed sequence
  Missing,          // file, peer or field absent
  Empty,            // nothing to process (empty cloud)
  Mismatch,         // e.g. a message for another grid
  Io,               // OS-level read/write failure
};
const char* to_string(ErrorCode c);

struct Error {
  ErrorCode code;
  std::string message;  // names the file/field/peer concerned
};

template <class T>
class Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}            // NOLINT(implicit)
  Expected(Error error) : v_(std::move(error)) {}        // NOLINT(implicit)
  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { assert(has_value()); return std::get<0>(v_); }
  const T& value() const& { assert(has_value()); return std::get<0>(v_); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { assert(!has_value()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace v2x
