#include "onnx_test_case.h"

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>

#include "common/error.h"
#include "enclave/enclave_session.h"
#include "host/constant_folder.h"
#include "host/file_io.h"
#include "host/graph_passes.h"
#include "host/onnx_import.h"
#include "host/onnx_ops.h"
#include "host/onnx_tensor.h"
#include "tee/none/native_platform.h"

namespace fs = std::filesystem;

namespace teeinfer::testing {

bool is_runtime_op(const std::string& op) {
  return is_runtime_onnx_op(op);  // the importer's own table
}

bool is_fold_only_op(const std::string& op) {
  return !is_runtime_op(op) && is_foldable(op);
}

std::vector<std::string> model_op_types(const std::string& model_path) {
  onnx::ModelProto m;
  std::string bytes = read_file(model_path);
  if (!m.ParseFromString(bytes)) return {"<unparsable>"};
  std::vector<std::string> ops;
  for (const auto& n : m.graph().node()) ops.push_back(n.op_type());
  return ops;
}

namespace {

Value read_tensor(const fs::path& p) {
  onnx::TensorProto t;
  std::string bytes = read_file(p.string());
  if (!t.ParseFromString(bytes)) throw Error(ErrorCode::kBadModel, "cannot parse " + p.string());
  return value_from_tensor_proto(t, p.filename().string());
}

std::vector<double> as_doubles(const Value& v) {
  size_t n = static_cast<size_t>(element_count(v.dims, v.name));
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) {
    switch (v.dtype) {
      case DType::kF32: {
        float f;
        std::memcpy(&f, v.data.data() + 4 * i, 4);
        out[i] = f;
        break;
      }
      default:
        out[i] = static_cast<double>(to_i64s(v)[i]);
        break;
    }
  }
  return out;
}

std::string compare(const std::string& name, const Dims& got_dims, const std::vector<double>& got, const Value& want,
                    double rtol, double atol) {
  Dims want_dims = want.dims;
  if (element_count(got_dims, name) != element_count(want_dims, name) ||
      (got_dims != want_dims && !(got_dims.empty() && want_dims == Dims{1}) &&
       !(want_dims.empty() && got_dims == Dims{1})))
    return "output '" + name + "' has dims " + dims_to_string(got_dims) + ", expected " + dims_to_string(want_dims);
  std::vector<double> ref = as_doubles(want);
  for (size_t i = 0; i < ref.size(); ++i) {
    bool both_nan = std::isnan(ref[i]) && std::isnan(got[i]);
    if (!both_nan && !(std::fabs(got[i] - ref[i]) <= atol + rtol * std::fabs(ref[i]))) {
      std::ostringstream s;
      s << "output '" << name << "'[" << i << "] = " << got[i] << ", expected " << ref[i];
      return s.str();
    }
  }
  return "";
}

}  // namespace

static void run_sets(const std::string& dir, double rtol, double atol, CaseResult& r);

CaseResult run_onnx_case(const std::string& dir, double rtol, double atol) {
  CaseResult r;
  try {
    run_sets(dir, rtol, atol, r);
  } catch (const Error& e) {
    r.kind = e.code() == ErrorCode::kUnsupported ? CaseResult::kUnsupported : CaseResult::kFail;
    r.message = e.what();
  }
  return r;
}

static void run_sets(const std::string& dir, double rtol, double atol, CaseResult& r) {
  std::string model_path = dir + "/model.onnx";
  onnx::ModelProto m;
  std::string bytes = read_file(model_path);
  m.ParseFromString(bytes);
  bool runtime = true;
  for (const auto& n : m.graph().node())
    if (!is_runtime_op(n.op_type())) runtime = false;
  r.mode = runtime ? "runtime" : "folded";
  std::set<std::string> inits;
  for (const auto& i : m.graph().initializer()) inits.insert(i.name());
  std::vector<std::string> input_names;
  for (const auto& i : m.graph().input())
    if (!inits.count(i.name())) input_names.push_back(i.name());

  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  for (const fs::path& set : sets) {
    ImportOptions opt;
    std::vector<Value> runtime_inputs;
    for (size_t i = 0; i < input_names.size(); ++i) {
      fs::path p = set / ("input_" + std::to_string(i) + ".pb");
      if (!fs::exists(p)) continue;  // an omitted optional input
      Value v = read_tensor(p);
      // Input 0 feeds the kernels as a runtime tensor; parameters (weights, shapes,
      // axes, second operands) are bound as constants the way models carry them.
      if (runtime && i == 0 && v.dtype == DType::kF32) {
        opt.input_dims[input_names[i]] = v.dims;
        runtime_inputs.push_back(std::move(v));
      } else {
        opt.constant_inputs[input_names[i]] = std::move(v);
      }
    }
    {
      Graph g = import_onnx(bytes, model_path, opt);
      for (const Node& n : g.nodes) {  // each node is the IR op the importer's table names
        const RuntimeOnnxOp* op = find_runtime_onnx_op(n.onnx_op);
        if (!op || !op->may_become(n.op)) {
          r.kind = CaseResult::kFail;
          r.message = n.onnx_op + " node '" + n.name + "' became a " + op_name(n.op) + " node, not the table's";
          return;
        }
      }
      optimize_graph(g);
      std::vector<std::pair<Dims, std::vector<double>>> got;
      std::vector<DType> got_dtypes;  // of outputs computed at run time
      bool all_constant =
          std::all_of(g.outputs.begin(), g.outputs.end(), [&](ValueId o) { return g.value(o).is_constant; });
      if (all_constant) {  // fully folded at import
        for (ValueId o : g.outputs) got.emplace_back(g.value(o).dims, as_doubles(g.value(o)));
      } else {
        NativePlatform platform;
        EnclaveSession s(g, platform);
        std::vector<TensorView> views;
        for (size_t i = 0; i < runtime_inputs.size(); ++i)
          views.push_back(TensorView{DType::kF32, runtime_inputs[i].dims, runtime_inputs[i].data.data(), "in"});
        for (auto& o : s.run(views)) {
          got_dtypes.push_back(o.dtype);
          if (o.dtype == DType::kI64) {  // ArgMax's indices
            std::vector<int64_t> v(o.bytes.size() / sizeof(int64_t));
            std::memcpy(v.data(), o.bytes.data(), o.bytes.size());
            got.emplace_back(o.dims, std::vector<double>(v.begin(), v.end()));
          } else {
            got.emplace_back(o.dims, std::vector<double>(o.data.begin(), o.data.end()));
          }
        }
      }
      for (size_t i = 0; i < got.size(); ++i) {
        fs::path p = set / ("output_" + std::to_string(i) + ".pb");
        Value want = read_tensor(p);
        std::string err = compare(want.name, got[i].first, got[i].second, want, rtol, atol);
        // An int64 output computed at run time reaches the user as int64 (ArgMax/ArgMin's).
        if (err.empty() && i < got_dtypes.size() && want.dtype == DType::kI64 && got_dtypes[i] != DType::kI64)
          err = "output '" + want.name + "' is " + dtype_name(got_dtypes[i]) + ", expected int64";
        if (!err.empty()) {
          r.kind = CaseResult::kFail;
          r.message = set.filename().string() + ": " + err;
          return;
        }
        ++r.compared;
      }
    }
  }
}

}  // namespace teeinfer::testing
