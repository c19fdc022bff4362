// What `run` feeds a model and writes back: input files by input name (.npy tensors or
// images decoded in the input's layout), how a stack of samples splits into batches, and
// the outputs written as .npy or .npz. On the public API only.
#pragma once

#include <string>
#include <vector>

#include "host/cli/commands.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer::cli {

// --mean/--std over the defaults for `channels` (ImageNet for 3, 0.5 for 1).
Normalization image_normalization(const ModelOptions& o, int64_t channels);

// One --input value: which model input, from which file.
struct InputFile {
  std::string name, path;
};

// --input values: FILE for a model's only input, NAME=FILE for any (one per input; every
// model input needs one). Throws kBadArgument naming the inputs that are missing.
std::vector<InputFile> input_files(const std::vector<std::string>& args, const Model& m);

// Each input loaded, in the order given: an .npy as it is, an image decoded into the
// input's dims (--input-shape, else the model's, a dynamic batch as 1) and layout
// (--layout, else what the dims imply).
std::vector<Tensor> load_inputs(const std::vector<InputFile>& files, const Model& m, const ModelOptions& o);

// The dims one run takes of a single-input model fed `x`, a stack of samples along dim 0:
// all of them at once where the model allows that batch, else batches of --batch, of
// the model's fixed batch, or of a sealed model's largest profile batch that divides the
// stack. Equal to x.dims when the whole stack runs at once.
Dims per_run_dims(const Tensor& x, const Model& m, const ModelOptions& o, int64_t batch);

// --output values, checked before any work: FILE.npz (every output by name), NAME=FILE
// (that output as .npy; repeatable) or any other FILE (the first output as .npy).
struct OutputFile {
  std::string name, path;  // name "" with .npy: the first output; with .npz: all
};
std::vector<OutputFile> output_files(const std::vector<std::string>& args, const Model& m);
void write_outputs(const std::vector<OutputFile>& files, const std::vector<Tensor>& outputs);

// The samples of a stack [begin, begin + count) along dim 0, as one tensor.
Tensor slice_samples(const Tensor& x, int64_t begin, int64_t count);
// Outputs of consecutive batches joined along dim 0, output by output.
void append_samples(std::vector<Tensor>& all, const std::vector<Tensor>& batch);

}  // namespace teeinfer::cli
