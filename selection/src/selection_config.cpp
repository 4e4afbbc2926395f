#include "v2x/selection/selection_config.hpp"

namespace v2x::selection {

std::unique_ptr<Selector> make_selector(SelectionConfig cfg) {
  validate_config(cfg);
  switch (cfg.kind) {
    case SelectorKind::SendAll: return std::make_unique<SendAllSelector>(cfg.budget);
    case SelectorKind::SendNothing: return std::make_unique<SendNothingSelector>(cfg.budget);
    case SelectorKind::TopK: return std::make_unique<TopKSelector>(cfg.budget, cfg.top_k);
    case SelectorKind::RandomK: return std::make_unique<RandomKSelector>(cfg.budget, cfg.random_k);
    case SelectorKind::Request: return std::make_unique<RequestSelector>(cfg.budget, cfg.request);
    case SelectorKind::ConformalTemporal: return std::make_unique<ConformalTemporalSelector>(cfg.budget, cfg.conformal);
  }
  throw ConfigError("", "kind", "unknown selector kind");
}

}  // namespace v2x::selection
