#pragma once
// One config for "which selector, with which parameters" (the runtime/bench build a selector from it).
#include <memory>

#include "v2x/selection/conformal_selector.hpp"
#include "v2x/selection/selector.hpp"

namespace v2x::selection {

enum class SelectorKind { SendAll = 0, SendNothing, TopK, RandomK, Request, ConformalTemporal };
}  // namespace v2x::selection
template <>
struct v2x::EnumNames<v2x::selection::SelectorKind> {
  static constexpr std::array<std::string_view, 6> names{"send_all", "send_nothing", "top_k", "random_k", "request",
                                                         "conformal_temporal"};
};

namespace v2x::selection {

struct SelectionConfig {
  SelectorKind kind = SelectorKind::ConformalTemporal;
  BudgetConfig budget;
  TopKConfig top_k;
  RandomKConfig random_k;
  RequestConfig request;
  ConformalConfig conformal;
  template <class V>
  void visit(V& v) {
    v("kind", kind);
    v("budget", budget);
    v("top_k", top_k);
    v("random_k", random_k);
    v("request", request);
    v("conformal", conformal);
  }
};

// Validates `cfg` (throws ConfigError) and builds the selector it names.
std::unique_ptr<Selector> make_selector(SelectionConfig cfg);

}  // namespace v2x::selection
