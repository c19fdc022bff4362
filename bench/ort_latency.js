// Times ONNX Runtime (npm onnxruntime-node) on one model: warm-up runs, then timed runs.
// Prints one JSON line: {"samples_ms": [...], "output": [first 10 values], "output_dims": [...]}.
//
//   node bench/ort_latency.js model.onnx input.npy --threads 1 --warmup 2 --repeat 7
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function readNpy(path) {
  const buf = fs.readFileSync(path);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`${path}: expected float32 data`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + start + headerLen, buf.byteOffset + buf.length));
  return { shape, data };
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 2 || args.includes('--help')) {
    console.log('usage: node ort_latency.js model.onnx input.npy [--threads N] [--warmup N] [--repeat N]');
    process.exit(args.includes('--help') ? 0 : 2);
  }
  const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : def; };
  const threads = opt('--threads', 1), warmup = opt('--warmup', 2), repeat = opt('--repeat', 7);
  const session = await ort.InferenceSession.create(args[0], {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const x = readNpy(args[1]);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
  let out;
  for (let i = 0; i < warmup; ++i) out = await session.run(feeds);
  const samples = [];
  for (let i = 0; i < repeat; ++i) {
    const t0 = process.hrtime.bigint();
    out = await session.run(feeds);
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const y = out[session.outputNames[0]];
  console.log(JSON.stringify({ samples_ms: samples, output_dims: y.dims, output: Array.from(y.data) }));
}

main().catch((e) => { console.error(`ort_latency: ${e.message}`); process.exit(1); });
