"""Writes a transformer feed-forward block as PyTorch (opset 13) exports it, for
bench_fusion_patterns: MatMul + bias, GELU spelled Div/Erf/Add/Mul/Mul, MatMul, the
residual Add, and LayerNorm spelled ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add.

  /usr/bin/python3 bench/transformer_block.py OUT.onnx TOKENS WIDTH HIDDEN
(input "x" {1, TOKENS, WIDTH}; Debian's python3-onnx)
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main(out, tokens, width, hidden):
    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    h = node("MatMul", ["x", const("w1", rng.standard_normal((width, hidden)) * 0.05)], "fc1")
    h = node("Add", [h, const("b1", rng.standard_normal(hidden) * 0.1)], "fc1_bias")
    z = node("Div", [h, const("sqrt2", 1.4142135381698608)], "gelu_div")
    e = node("Add", [node("Erf", [z], "gelu_erf"), const("one", 1.0)], "gelu_add")
    g = node("Mul", [node("Mul", [h, e], "gelu_mul"), const("half", 0.5)], "gelu")
    r = node("Add", [node("MatMul", [g, const("w2", rng.standard_normal((hidden, width)) * 0.05)], "fc2"), "x"],
             "residual")
    d = node("Sub", [r, node("ReduceMean", [r], "ln_mean", axes=[-1])], "ln_sub")
    var = node("ReduceMean", [node("Pow", [d, const("two", 2.0)], "ln_pow")], "ln_var", axes=[-1])
    sd = node("Sqrt", [node("Add", [var, const("eps", 1e-5)], "ln_add")], "ln_sqrt")
    n = node("Div", [d, sd], "ln_div")
    s = node("Mul", [n, const("gamma", rng.standard_normal(width))], "ln_scale")
    node("Add", [s, const("beta", rng.standard_normal(width))], "y")
    graph = helper.make_graph(nodes, "ffn_block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, tokens, width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, tokens, width])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), out)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
