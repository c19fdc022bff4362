// Recurrent (ONNX RNN, GRU, LSTM; one direction of one layer): one oneDNN RNN primitive over
// the whole sequence. The importer put the gates in oneDNN's order and summed the biases
// (common/graph.h, RecurrentParams), so the weights reach oneDNN through a strided view of
// their bytes and one reorder, at load (or per run when streamed). X is read in place
// (oneDNN takes [T,N,I] as tnc and ONNX's batch-first [N,T,I] as ntc); the packed output
// holds Y, then Y_h and Y_c, each written by the primitive where it belongs.
#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

namespace {

memory::desc f32(const memory::dims& dims, memory::format_tag tag) {
  return memory::desc(dims, memory::data_type::f32, tag);
}

// A weight of [G*H, K] values (row g*H + o, column k), as oneDNN's ldigo {1, 1, K, G, H}.
memory::desc gate_rows_as_ldigo(int64_t k, int64_t gates, int64_t h) {
  return memory::desc({1, 1, k, gates, h}, memory::data_type::f32,
                      memory::dims{gates * h * k, gates * h * k, 1, h * k, k});
}

dnnl::algorithm rnn_activation(RnnActivation a) {
  switch (a) {
    case RnnActivation::kTanh:
      return dnnl::algorithm::eltwise_tanh;
    case RnnActivation::kRelu:
      return dnnl::algorithm::eltwise_relu;
    case RnnActivation::kSigmoid:
      return dnnl::algorithm::eltwise_logistic;
  }
  return dnnl::algorithm::eltwise_tanh;
}

struct RnnDescs {
  memory::desc src_layer, src_iter, src_iter_c, weights_layer, weights_iter, weights_peephole, bias, dst_layer,
      dst_iter, dst_iter_c;
};

// The primitive of the node's cell and its descriptor; oneDNN picks the weights' layouts.
template <class Primitive>
std::pair<dnnl::primitive, dnnl::primitive_desc> made(typename Primitive::primitive_desc pd) {
  return {Primitive(pd), pd};
}

std::pair<dnnl::primitive, dnnl::primitive_desc> cell_primitive(const RecurrentParams& p, const RnnDescs& d,
                                                                bool peephole, const dnnl::engine& engine) {
  const auto prop = dnnl::prop_kind::forward_inference;
  const auto dir =
      p.reverse ? dnnl::rnn_direction::unidirectional_right2left : dnnl::rnn_direction::unidirectional_left2right;
  const dnnl::primitive_attr attr = attr_with({});
  switch (p.cell) {
    case RecurrentCell::kLstm:
      if (peephole)
        return made<dnnl::lstm_forward>(dnnl::lstm_forward::primitive_desc(
            dnnl::lstm_forward::desc(prop, dir, d.src_layer, d.src_iter, d.src_iter_c, d.weights_layer, d.weights_iter,
                                     d.weights_peephole, d.bias, d.dst_layer, d.dst_iter, d.dst_iter_c),
            attr, engine));
      return made<dnnl::lstm_forward>(dnnl::lstm_forward::primitive_desc(
          dnnl::lstm_forward::desc(prop, dir, d.src_layer, d.src_iter, d.src_iter_c, d.weights_layer, d.weights_iter,
                                   d.bias, d.dst_layer, d.dst_iter, d.dst_iter_c),
          attr, engine));
    case RecurrentCell::kGru:
      return made<dnnl::gru_forward>(
          dnnl::gru_forward::primitive_desc(dnnl::gru_forward::desc(prop, dir, d.src_layer, d.src_iter, d.weights_layer,
                                                                    d.weights_iter, d.bias, d.dst_layer, d.dst_iter),
                                            attr, engine));
    case RecurrentCell::kGruLinearBeforeReset:
      return made<dnnl::lbr_gru_forward>(dnnl::lbr_gru_forward::primitive_desc(
          dnnl::lbr_gru_forward::desc(prop, dir, d.src_layer, d.src_iter, d.weights_layer, d.weights_iter, d.bias,
                                      d.dst_layer, d.dst_iter),
          attr, engine));
    case RecurrentCell::kRnn:
      return made<dnnl::vanilla_rnn_forward>(dnnl::vanilla_rnn_forward::primitive_desc(
          dnnl::vanilla_rnn_forward::desc(prop, rnn_activation(p.activation), dir, d.src_layer, d.src_iter,
                                          d.weights_layer, d.weights_iter, d.bias, d.dst_layer, d.dst_iter),
          attr, engine));
  }
  throw Error(ErrorCode::kBadModel, "unknown recurrent cell");
}

memory::desc arg_md(const dnnl::primitive_desc& pd, int arg) {
  return pd.query_md(dnnl::query::exec_arg_md, arg);
}

}  // namespace

void lower_recurrent(LoweringContext& l, const Node& n) {
  const auto& p = std::get<RecurrentParams>(n.params);
  const Graph& g = l.graph();
  const Dims& x = g.value(n.inputs[0]).dims;
  const int64_t steps = p.batch_first ? x[1] : x[0], batch = p.batch_first ? x[0] : x[1], features = x[2];
  const int64_t h = p.hidden_size, gates = recurrent_gates(p.cell);
  const bool lstm = p.cell == RecurrentCell::kLstm, peephole = lstm && n.inputs.size() == 7;
  const memory::format_tag layer_tag = p.batch_first ? memory::format_tag::ntc : memory::format_tag::tnc;
  const memory::format_tag any = memory::format_tag::any;

  RnnDescs d;
  d.src_layer = f32({steps, batch, features}, layer_tag);
  d.src_iter = f32({1, 1, batch, h}, memory::format_tag::ldnc);
  d.weights_layer = f32({1, 1, features, gates, h}, any);
  d.weights_iter = f32({1, 1, h, gates, h}, any);
  d.bias = f32({1, 1, recurrent_bias_gates(p.cell), h}, memory::format_tag::ldgo);
  d.dst_layer = f32({steps, batch, h}, layer_tag);
  d.dst_iter = d.src_iter;
  if (lstm) d.src_iter_c = d.dst_iter_c = d.src_iter;
  if (peephole) d.weights_peephole = f32({1, 1, 3, h}, memory::format_tag::ldgo);

  std::pair<dnnl::primitive, dnnl::primitive_desc> made_cell;
  try {
    made_cell = cell_primitive(p, d, peephole, l.engine());
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::kUnsupported,
                n.onnx_op + " node '" + n.name + "': oneDNN has no RNN primitive for it (" + e.what() + ")");
  }

  const auto& [primitive, pd] = made_cell;
  auto view = [&](ValueId v, const memory::desc& md) {
    Slot s = l.input(v, Layout::kPlain);
    return Slot{s.buffer, md, s.offset};
  };
  const memory::desc w_layer_source = gate_rows_as_ldigo(features, gates, h);
  const memory::desc w_iter_source = gate_rows_as_ldigo(h, gates, h);
  std::vector<std::pair<int, Slot>> args{
      {DNNL_ARG_SRC_LAYER, view(n.inputs[0], d.src_layer)},
      {DNNL_ARG_WEIGHTS_LAYER, l.constant(n.inputs[1], arg_md(pd, DNNL_ARG_WEIGHTS_LAYER), &w_layer_source)},
      {DNNL_ARG_WEIGHTS_ITER, l.constant(n.inputs[2], arg_md(pd, DNNL_ARG_WEIGHTS_ITER), &w_iter_source)},
      {DNNL_ARG_BIAS, l.constant(n.inputs[3], d.bias)},
      {DNNL_ARG_SRC_ITER, view(n.inputs[4], d.src_iter)}};
  if (lstm) args.emplace_back(DNNL_ARG_SRC_ITER_C, view(n.inputs[5], d.src_iter_c));
  if (peephole) args.emplace_back(DNNL_ARG_WEIGHTS_PEEPHOLE, l.constant(n.inputs[6], d.weights_peephole));

  const int64_t total = (steps + recurrent_states(p.cell)) * batch * h;
  Slot out = l.output(n.outputs[0], f32({total}, memory::format_tag::a));
  const size_t state_bytes = static_cast<size_t>(batch * h) * sizeof(float);
  const size_t y_bytes = static_cast<size_t>(steps) * state_bytes;
  args.emplace_back(DNNL_ARG_DST_LAYER, Slot{out.buffer, d.dst_layer, out.offset});
  args.emplace_back(DNNL_ARG_DST_ITER, Slot{out.buffer, d.dst_iter, out.offset + y_bytes});
  if (lstm) args.emplace_back(DNNL_ARG_DST_ITER_C, Slot{out.buffer, d.dst_iter_c, out.offset + y_bytes + state_bytes});
  l.add_primitive(n.name, primitive, pd, std::move(args));
}

}  // namespace teeinfer
