#include "enclave/lowering/step.h"

namespace teeinfer {

namespace {

struct SlotsOf {
  std::vector<Slot> operator()(const PrimitiveStep& s) const {
    std::vector<Slot> out;
    for (const auto& a : s.args) out.push_back(a.second);
    return out;
  }
  std::vector<Slot> operator()(const CustomStep& s) const { return s.slots; }
  std::vector<Slot> operator()(const StreamReadStep& s) const { return {s.target}; }
  std::vector<Slot> operator()(const SpillStep& s) const { return {s.band}; }
  std::vector<Slot> operator()(const OutputStep& s) const { return {s.band}; }
};

}  // namespace

std::vector<Slot> slots_of(const Step& step) {
  return std::visit(SlotsOf{}, step.action);
}

const char* step_kind_name(StepKind k) {
  switch (k) {
    case StepKind::kCompute:
      return "compute";
    case StepKind::kWeightRead:
      return "weight read";
    case StepKind::kWeightReorder:
      return "weight reorder";
    case StepKind::kLayout:
      return "layout";
    case StepKind::kSpill:
      return "spill";
  }
  return "?";
}

}  // namespace teeinfer
