#!/usr/bin/env python3
"""Writes the tiny hand-built ONNX models the test suite uses for error paths.

  /usr/bin/python3 tools/make_test_models.py -o tests/data
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def unsupported_op_model():
    # Conv followed by Erf: a valid model whose second op teeinfer does not implement.
    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Erf", ["c"], ["y"], name="gelu_erf")]
    g = helper.make_graph(nodes, "unsupported", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8, 8])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def tiny_sealed_model():
    # conv 2->4 3x3 + relu + flatten + gemm 64->3: small enough for exhaustive tamper tests.
    rng = np.random.default_rng(5)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b"),
             numpy_helper.from_array(rng.standard_normal((3, 64)).astype(np.float32), "fc_w"),
             numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "fc_b")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1)]
    g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out-dir", default="tests/data")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    m = unsupported_op_model()
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(args.out_dir, "unsupported_op.onnx"))
    np.save(os.path.join(args.out_dir, "x_1x1x8x8.npy"), np.zeros((1, 1, 8, 8), np.float32))
    m = tiny_sealed_model()
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(args.out_dir, "tiny_sealed.onnx"))


if __name__ == "__main__":
    main()
