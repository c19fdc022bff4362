// The lowering's result, by step kind: each strategy of the budget planner (resident,
// streamed with prefetch, spilled activations, the unmodified baseline) yields the step
// kinds it should (std::variant alternatives of StepAction), and every step's slots are
// alive, in the memory plan, when the step runs.
#include <gtest/gtest.h>

#include <string>

#include "enclave/analysis/spillable_activations.h"
#include "enclave/lowering/lower_graph.h"
#include "enclave/weight_source.h"
#include "host/model_loader.h"

using namespace teeinfer;

namespace {

struct StepKinds {
  int primitive = 0, custom = 0, stream = 0, seal = 0, unseal = 0, loader = 0;
};

StepKinds kinds_of(const LoweredPlan& plan) {
  StepKinds k;
  for (const Step& s : plan.steps()) {
    k.loader += s.loader_start >= 0;
    if (std::holds_alternative<PrimitiveStep>(s.action)) ++k.primitive;
    if (std::holds_alternative<CustomStep>(s.action)) ++k.custom;
    if (std::holds_alternative<StreamReadStep>(s.action)) ++k.stream;
    if (const auto* io = std::get_if<SpillStep>(&s.action)) ++(io->seal ? k.seal : k.unseal);
  }
  return k;
}

// Every slot a step touches lives from (at the latest) the step, or the main step a
// loader step may start at, to (at least) the step.
void expect_slots_alive(const LoweredPlan& plan, const std::string& what) {
  const MemoryPlanner& p = plan.planner();
  for (size_t s = 0; s < plan.steps().size(); ++s) {
    const Step& step = plan.steps()[s];
    int from = step.loader_start >= 0 ? step.loader_start : static_cast<int>(s);
    for (const Slot& slot : slots_of(step)) {
      EXPECT_LE(p.first_step(slot.buffer), from) << what << ": step " << step.name;
      EXPECT_GE(p.last_step(slot.buffer), static_cast<int>(s)) << what << ": step " << step.name;
    }
  }
}

class LoweredPlanKinds : public ::testing::Test {
 protected:
  Graph g = load_onnx_model(std::string(TEEINFER_SOURCE_DIR) + "/tests/models/resnet18_small.onnx",
                            {{"input", {1, 3, 64, 64}}});
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  InlineConstants weights{g};
};

TEST_F(LoweredPlanKinds, ResidentWeightsArePrimitivesOnly) {
  auto plan = lower_graph(g, engine);
  StepKinds k = kinds_of(*plan);
  EXPECT_GT(k.primitive, 0);
  EXPECT_EQ(k.stream + k.seal + k.unseal + k.loader, 0);
  EXPECT_FALSE(plan->uses_loader());
  EXPECT_FALSE(plan->loads().empty());
  expect_slots_alive(*plan, "resident");
}

TEST_F(LoweredPlanKinds, StreamedWeightsAreStreamStepsOnTheLoader) {
  LoweringOptions o{.prefetch = true, .weights = &weights};
  o.streamed.assign(g.values.size(), false);
  int constants = 0;
  for (size_t v = 0; v < g.values.size(); ++v)
    if (g.values[v].is_constant) o.streamed[v] = true, ++constants;
  auto plan = lower_graph(g, engine, o);
  StepKinds k = kinds_of(*plan);
  EXPECT_GE(k.stream, constants);  // each at least once (windows and slices read more)
  EXPECT_TRUE(plan->loads().empty());
  EXPECT_TRUE(plan->uses_loader());
  EXPECT_EQ(k.seal + k.unseal, 0);
  for (const Step& s : plan->steps()) {
    if (const auto* read = std::get_if<StreamReadStep>(&s.action)) {
      EXPECT_TRUE(plan->is_streamed(read->value)) << s.name;
      EXPECT_GE(s.loader_start, 0) << s.name << " is not a loader step";
    }
    // The loader only reads weights and reorders what it read.
    if (s.loader_start >= 0) {
      EXPECT_TRUE(std::holds_alternative<StreamReadStep>(s.action) || s.name.rfind("reorder ", 0) == 0) << s.name;
    }
  }
  expect_slots_alive(*plan, "streamed");
}

TEST_F(LoweredPlanKinds, SpilledActivationsAreSealedAndUnsealedInBands) {
  LoweringOptions o;
  o.spilled = spillable_activations(g);
  int spilled = 0;
  for (bool b : o.spilled) spilled += b;
  ASSERT_GT(spilled, 0);
  auto plan = lower_graph(g, engine, o);
  StepKinds k = kinds_of(*plan);
  EXPECT_GE(k.seal, spilled);  // each spilled activation is written, in one band or more
  EXPECT_GE(k.unseal, spilled);
  EXPECT_EQ(k.stream + k.loader, 0);
  EXPECT_GT(plan->spill_blocks(), 0u);
  EXPECT_GT(plan->spill_host_bytes(), 0u);
  EXPECT_FALSE(plan->strategies().empty());
  expect_slots_alive(*plan, "spilled");
}

TEST_F(LoweredPlanKinds, UnmodifiedConvolutionsAreCustomIm2col) {
  auto plan = lower_graph(g, engine, {.mode = ExecutionMode::kUnmodified});
  StepKinds k = kinds_of(*plan);
  int im2col = 0;
  for (const Step& s : plan->steps()) im2col += s.impl == "teeinfer:im2col";
  EXPECT_GT(im2col, 0);
  EXPECT_GE(k.custom, im2col);
  EXPECT_EQ(k.stream + k.seal + k.unseal + k.loader, 0);
  expect_slots_alive(*plan, "unmodified");
}

}  // namespace
