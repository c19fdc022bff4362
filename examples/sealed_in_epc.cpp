// Seal an ONNX model, then run it inside an emulated SGX EPC at a secure-memory budget,
// and print the plan and what the run cost: the confidential flow in one program.
//
//   sealed_in_epc model.onnx work_dir [budget, e.g. 1MiB]
//
// Built against the installed package: find_package(teeinfer) + teeinfer::teeinfer.
#include <teeinfer/teeinfer.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s model.onnx work_dir [budget]\n", argv[0]);
    return 2;
  }
  try {
    const std::string dir = argv[2], key_path = dir + "/example.key", sealed = dir + "/example.tee";
    const size_t budget = teeinfer::parse_size(argc > 3 ? argv[3] : "1MiB", "budget");
    teeinfer::KeyFile::generate(key_path, /*overwrite=*/true);
    teeinfer::KeyFile key(key_path);
    teeinfer::PackResult packed = teeinfer::pack(argv[1], sealed, key);
    std::printf("sealed %s: %u chunks, model id %s\n", sealed.c_str(), packed.chunks,
                teeinfer::to_hex(packed.model_id).c_str());

    teeinfer::Model model = teeinfer::Model::open(sealed, &key);
    teeinfer::Session session(model,
                              {.budget_bytes = budget, .platform = teeinfer::Platform::kSim, .epc_bytes = budget});
    const teeinfer::PlanReport& plan = session.plan();
    std::printf("plan: arena %s within %s (minimum %s), %s of weights streamed per run, %zu steps\n",
                teeinfer::format_size(plan.arena_bytes).c_str(), teeinfer::format_size(budget).c_str(),
                teeinfer::format_size(session.minimum_budget()).c_str(),
                teeinfer::format_size(plan.streamed_bytes).c_str(), plan.steps.size());

    teeinfer::TensorInfo in = session.inputs().at(0);
    int64_t n = 1;
    for (int64_t d : in.dims) n *= d;
    teeinfer::Tensor x = teeinfer::Tensor::f32(in.name, in.dims, std::vector<float>(static_cast<size_t>(n), 0.5f));
    session.run({x});  // the first run touches every arena page once (first-touch faults)
    session.reset_counters();
    teeinfer::Tensor y = session.run({x}).at(0);
    teeinfer::Counters c = session.counters();
    std::printf("ran: output %s %s; %llu page faults, %llu bytes decrypted in %llu chunks, arena peak %s\n",
                y.name.c_str(), teeinfer::to_string(y.dims).c_str(), static_cast<unsigned long long>(c.faults),
                static_cast<unsigned long long>(c.bytes_decrypted), static_cast<unsigned long long>(c.chunks),
                teeinfer::format_size(c.arena_peak_bytes).c_str());
    // The planner's promise: within the budget, and no page fault once warm.
    return c.arena_peak_bytes <= budget && c.faults == 0 ? 0 : 1;
  } catch (const teeinfer::Error& e) {
    std::fprintf(stderr, "%s: %s\n", teeinfer::error_code_name(e.code()), e.what());
    return 1;
  }
}
