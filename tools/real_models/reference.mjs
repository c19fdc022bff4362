// ONNX Runtime reference outputs for the real models of tools/real_models/models.json.
// For each model: builds its deterministic inputs (models.json `inputs[].gen`), runs
// onnxruntime-node with 1 thread, and writes into CACHE/ref/ID/:
//   inputs/K_NAME.npy, outputs/K_NAME.npy, meta.json (names -> files, dims, dtypes,
//   ORT version and latency: warm-up runs, then the median of the timed runs).
//
//   node tools/real_models/reference.mjs [--cache DIR] [--only ID,...] [--repeat N] [--warmup N] [--force]
//
// onnxruntime-node comes from bench/node_modules (`cd bench && npm install --ignore-scripts`,
// as `make bench` does), or from --ort-dir DIR (a node_modules folder holding it).
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

function usage(code) {
  console.log(`usage: node tools/real_models/reference.mjs [options]
  --cache DIR       model cache of fetch.sh (default: $TEEINFER_REAL_MODELS, else build/real-models/cache)
  --catalogue FILE  default: tools/real_models/models.json
  --only IDS        these model ids only (comma-separated)
  --repeat N        timed ORT runs per model (default 7; a model's ort_repeat overrides it)
  --warmup N        untimed runs first (default 1)
  --ort-dir DIR     node_modules folder with onnxruntime-node (default: bench/node_modules)
  --force           redo models whose references are already there and current`);
  process.exit(code);
}

const args = process.argv.slice(2);
const opt = { cache: process.env.TEEINFER_REAL_MODELS || path.join(root, 'build', 'real-models', 'cache'),
  catalogue: path.join(here, 'models.json'), only: '', repeat: 7, warmup: 1,
  ortDir: path.join(root, 'bench', 'node_modules'), force: false };
for (let i = 0; i < args.length; ++i) {
  const a = args[i];
  const val = () => { if (i + 1 >= args.length) usage(2); return args[++i]; };
  if (a === '--help' || a === '-h') usage(0);
  else if (a === '--cache') opt.cache = val();
  else if (a === '--catalogue') opt.catalogue = val();
  else if (a === '--only') opt.only = val();
  else if (a === '--repeat') opt.repeat = Number(val());
  else if (a === '--warmup') opt.warmup = Number(val());
  else if (a === '--ort-dir') opt.ortDir = val();
  else if (a === '--force') opt.force = true;
  else { console.error(`reference.mjs: unknown argument '${a}' (see --help)`); process.exit(2); }
}

const require = createRequire(path.join(path.resolve(opt.ortDir), '..', 'package.json'));
let ort, ortVersion;
try {
  ort = require('onnxruntime-node');
  ortVersion = require('onnxruntime-node/package.json').version;
} catch (e) {
  console.error(`reference.mjs: onnxruntime-node not found under ${opt.ortDir} ` +
    '(run: cd bench && npm install --ignore-scripts --no-audit --no-fund)');
  process.exit(2);
}

// ---- deterministic generators -------------------------------------------------------------
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const count = (shape) => shape.reduce((a, b) => a * b, 1);

// A synthetic 8-bit RGB picture (h x w x 3, values 0..255 integers).
function scene(h, w, kind, rng) {
  const img = new Float32Array(h * w * 3);
  const c0 = [0, 1, 2].map(() => 60 + 150 * rng()), c1 = [0, 1, 2].map(() => 60 + 150 * rng());
  const fx = 1 + 3 * rng(), fy = 1 + 3 * rng();
  const light = kind === 'text';
  for (let y = 0; y < h; ++y) for (let x = 0; x < w; ++x) {
    const t = (x / w + y / h) / 2, wave = 12 * Math.sin(2 * Math.PI * (fx * x / w + fy * y / h));
    for (let c = 0; c < 3; ++c) {
      const base = light ? 215 + 25 * t : c0[c] * (1 - t) + c1[c] * t;
      img[(y * w + x) * 3 + c] = base + wave;
    }
  }
  const put = (x, y, col, a = 1) => {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    const o = (y * w + x) * 3;
    for (let c = 0; c < 3; ++c) img[o + c] = img[o + c] * (1 - a) + col[c] * a;
  };
  const rect = (x0, y0, rw, rh, col) => {
    for (let y = Math.max(0, Math.floor(y0)); y < Math.min(h, y0 + rh); ++y)
      for (let x = Math.max(0, Math.floor(x0)); x < Math.min(w, x0 + rw); ++x) put(x, y, col);
  };
  const ellipse = (cx, cy, rx, ry, col) => {
    for (let y = Math.max(0, Math.floor(cy - ry)); y <= Math.min(h - 1, cy + ry); ++y)
      for (let x = Math.max(0, Math.floor(cx - rx)); x <= Math.min(w - 1, cx + rx); ++x) {
        const d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2;
        if (d <= 1) put(x, y, col, Math.min(1, (1 - d) * 6));
      }
  };
  const line = (x0, y0, x1, y1, thick, col) => {
    const n = Math.ceil(Math.hypot(x1 - x0, y1 - y0)) + 1;
    for (let i = 0; i <= n; ++i) {
      const x = x0 + (x1 - x0) * i / n, y = y0 + (y1 - y0) * i / n;
      for (let dy = -thick; dy <= thick; ++dy) for (let dx = -thick; dx <= thick; ++dx) put(Math.round(x + dx), Math.round(y + dy), col);
    }
  };
  const rcol = () => [0, 1, 2].map(() => 255 * rng());
  if (kind === 'text') {
    // lines of dark glyph-like strokes on a light page
    const lineH = Math.max(12, Math.min(h * 0.6, 24 + 16 * rng()));
    for (let y0 = h > 2 * lineH ? 0.5 * lineH : (h - lineH) / 2; y0 + lineH <= h; y0 += lineH * (1.6 + rng())) {
      let x = 4 + 20 * rng();
      const ink = [20 + 40 * rng(), 20 + 40 * rng(), 20 + 40 * rng()];
      const end = w * (0.55 + 0.4 * rng());
      while (x < end - lineH) {
        const glyphs = 2 + Math.floor(6 * rng());
        for (let g = 0; g < glyphs && x < end; ++g) {
          const gw = lineH * (0.45 + 0.35 * rng()), st = Math.max(1, Math.round(lineH / 10));
          rect(x, y0 + lineH * 0.1, st, lineH * 0.8, ink);                      // stem
          if (rng() < 0.7) rect(x, y0 + lineH * (0.1 + 0.7 * rng()), gw, st, ink); // bar
          if (rng() < 0.5) rect(x + gw - st, y0 + lineH * 0.3, st, lineH * 0.6, ink);
          if (rng() < 0.4) line(x, y0 + lineH * 0.9, x + gw, y0 + lineH * 0.1, st / 2, ink);
          x += gw + lineH * 0.15;
        }
        x += lineH * (0.5 + 0.5 * rng());
      }
    }
  } else {
    const shapes = 4 + Math.floor(4 * rng());
    for (let i = 0; i < shapes; ++i) {
      if (rng() < 0.5) rect(w * rng(), h * rng(), w * (0.1 + 0.3 * rng()), h * (0.1 + 0.3 * rng()), rcol());
      else ellipse(w * rng(), h * rng(), w * (0.05 + 0.15 * rng()), h * (0.05 + 0.15 * rng()), rcol());
    }
    if (kind === 'lines') {
      const n = 8 + Math.floor(8 * rng());
      for (let i = 0; i < n; ++i)
        line(w * rng(), h * rng(), w * rng(), h * rng(), Math.max(1, Math.round(w / 256)), rng() < 0.5 ? [15, 15, 15] : [240, 240, 240]);
    }
    if (kind === 'faces') {
      const n = 1 + Math.floor(2 * rng());
      for (let i = 0; i < n; ++i) {
        const r = Math.min(w, h) * (0.12 + 0.12 * rng()), cx = r + (w - 2 * r) * rng(), cy = r * 1.3 + (h - 2.6 * r) * rng();
        const skin = [180 + 50 * rng(), 130 + 40 * rng(), 100 + 40 * rng()];
        ellipse(cx, cy - 0.9 * r, 0.85 * r, 0.5 * r, [40, 30, 25]);              // hair
        ellipse(cx, cy, 0.75 * r, r, skin);                                        // face
        ellipse(cx - 0.3 * r, cy - 0.2 * r, 0.14 * r, 0.08 * r, [30, 30, 40]);   // eyes
        ellipse(cx + 0.3 * r, cy - 0.2 * r, 0.14 * r, 0.08 * r, [30, 30, 40]);
        ellipse(cx, cy + 0.1 * r, 0.07 * r, 0.18 * r, skin.map((v) => v * 0.85)); // nose
        ellipse(cx, cy + 0.45 * r, 0.3 * r, 0.07 * r, [150, 60, 60]);            // mouth
        rect(cx - 0.9 * r, cy + r, 1.8 * r, h, rcol());                            // shoulders
      }
    }
  }
  for (let i = 0; i < img.length; ++i) img[i] = Math.min(255, Math.max(0, Math.round(img[i] + 6 * (rng() - 0.5))));
  return img;
}

function audio(n, g, rng) {
  const sr = 16000, x = new Float64Array(n);
  let f0 = 110 + 110 * rng(), phase = 2 * Math.PI * rng();
  const syll = 3 + 3 * rng();
  for (let i = 0; i < n; ++i) {
    const t = i / sr;
    if (i % 800 === 0) f0 *= 0.97 + 0.06 * rng();
    phase += 2 * Math.PI * f0 / sr;
    let v = 0;
    for (let k = 1; k <= 10; ++k) v += Math.sin(k * phase + k * k) / k;
    const env = 0.15 + 0.85 * Math.max(0, Math.sin(2 * Math.PI * syll * t + 0.3)) ** 2;
    x[i] = env * v + 0.08 * (2 * rng() - 1);
  }
  let peak = 0;
  for (const v of x) peak = Math.max(peak, Math.abs(v));
  const s = (g.amp ?? 0.5) / peak * (g.int16_scale ? 32767 : 1);
  return Float32Array.from(x, (v) => g.int16_scale ? Math.round(v * s) : v * s);
}

function makeInput(spec) {
  const g = spec.gen, shape = spec.shape, n = count(shape);
  if (spec.dtype === 'int64') {
    if (g.type !== 'const' && g.type !== 'zeros') throw new Error(`${spec.name}: int64 inputs take gen const or zeros`);
    return new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(g.type === 'const' ? g.value : 0)), shape);
  }
  if (spec.dtype !== 'float32') throw new Error(`${spec.name}: dtype ${spec.dtype} not handled`);
  let data;
  if (g.type === 'zeros') data = new Float32Array(n);
  else if (g.type === 'const') data = new Float32Array(n).fill(g.value);
  else if (g.type === 'uniform') { const r = mulberry32(g.seed); data = Float32Array.from({ length: n }, () => g.lo + (g.hi - g.lo) * r()); }
  else if (g.type === 'audio') {
    const r = mulberry32(g.seed), per = shape[shape.length - 1];
    data = new Float32Array(n);
    for (let o = 0; o < n; o += per) data.set(audio(per, g, r), o);
  } else if (g.type === 'image') {
    const r = mulberry32(g.seed), nhwc = g.layout === 'nhwc';
    const [N, C, H, W] = nhwc ? [shape[0], shape[3], shape[1], shape[2]] : shape;
    data = new Float32Array(n);
    for (let b = 0; b < N; ++b) {
      const img = scene(H, W, g.scene, r);
      for (let c = 0; c < C; ++c) for (let y = 0; y < H; ++y) for (let x = 0; x < W; ++x) {
        const v = c < 3 ? (img[(y * W + x) * 3 + c] * g.scale - g.mean[c]) / g.std[c] : (g.alpha_value ?? 1);
        data[nhwc ? ((b * H + y) * W + x) * C + c : ((b * C + c) * H + y) * W + x] = v;
      }
    }
  } else throw new Error(`${spec.name}: unknown generator ${g.type}`);
  return new ort.Tensor('float32', data, shape);
}

// ---- .npy writer --------------------------------------------------------------------------
const DESCR = { float32: '<f4', float64: '<f8', float16: '<f2', int64: '<i8', int32: '<i4', int8: '|i1', uint8: '|u1', bool: '|b1' };
function writeNpy(file, tensor) {
  const descr = DESCR[tensor.type];
  if (!descr) throw new Error(`no .npy dtype for ${tensor.type}`);
  const dims = tensor.dims.map(Number);
  const shape = dims.length === 0 ? '()' : dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1'); pre[6] = 1; pre[7] = 0; pre.writeUInt16LE(header.length, 8);
  const d = tensor.data;
  const body = tensor.type === 'bool' ? Buffer.from(Uint8Array.from(d, (v) => (v ? 1 : 0)))
    : Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}
const safe = (k, name) => `${k}_${name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60)}.npy`;

// ---- main ---------------------------------------------------------------------------------
const catalogue = JSON.parse(fs.readFileSync(opt.catalogue, 'utf8'));
const only = new Set(opt.only.split(',').filter(Boolean));
for (const id of only) if (!catalogue.models.some((m) => m.id === id)) { console.error(`reference.mjs: no model '${id}'`); process.exit(2); }
let failed = 0;
for (const m of catalogue.models) {
  if (only.size && !only.has(m.id)) continue;
  const modelFile = path.join(opt.cache, 'models', `${m.id}.onnx`);
  const dir = path.join(opt.cache, 'ref', m.id), metaFile = path.join(dir, 'meta.json');
  const specHash = crypto.createHash('sha256').update(JSON.stringify([m.sha256, m.inputs, m.compare_outputs, ortVersion])).digest('hex').slice(0, 16);
  if (!opt.force && fs.existsSync(metaFile)) {
    const old = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
    if (old.spec_hash === specHash) { console.log(`ok   ${m.id} (cached; ORT median ${old.ort.median_ms.toFixed(3)} ms)`); continue; }
  }
  if (!fs.existsSync(modelFile)) { console.error(`FAIL ${m.id}: ${modelFile} missing (run tools/real_models/fetch.sh)`); ++failed; continue; }
  try {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(path.join(dir, 'inputs'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'outputs'), { recursive: true });
    const session = await ort.InferenceSession.create(modelFile, {
      intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    const feeds = {}, inputs = [];
    m.inputs.forEach((spec, k) => {
      const t = makeInput(spec);
      feeds[spec.name] = t;
      const file = path.join('inputs', safe(k, spec.name));
      writeNpy(path.join(dir, file), t);
      inputs.push({ name: spec.name, file, dtype: spec.dtype, dims: spec.shape });
    });
    const repeat = m.ort_repeat ?? opt.repeat;
    let out;
    for (let i = 0; i < opt.warmup; ++i) out = await session.run(feeds);
    const samples = [];
    for (let i = 0; i < repeat; ++i) {
      const t0 = process.hrtime.bigint();
      out = await session.run(feeds);
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    if (!out) out = await session.run(feeds);
    // Models with compare_outputs (the background-removal ones: 12 outputs, 11 of them side
    // outputs of 4-64 MiB) keep only those and the outputs their checks read.
    const keep = m.compare_outputs ? new Set([...m.compare_outputs, ...(m.checks || []).map((c) => c.output)]) : null;
    const outputs = session.outputNames.filter((name) => !keep || keep.has(name)).map((name) => {
      const k = session.outputNames.indexOf(name);
      const y = out[name], file = path.join('outputs', safe(k, name));
      writeNpy(path.join(dir, file), y);
      return { name, file, dtype: y.type, dims: y.dims.map(Number) };
    });
    const sorted = [...samples].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    const meta = { id: m.id, spec_hash: specHash, model: path.relative(dir, modelFile), inputs, outputs,
      ort: { version: ortVersion, intra_op_threads: 1, warmup: opt.warmup, repeat, samples_ms: samples, median_ms: median } };
    fs.writeFileSync(metaFile, JSON.stringify(meta, null, 1) + '\n');
    console.log(`ok   ${m.id}: ORT ${ortVersion} median ${median.toFixed(3)} ms (${repeat} runs); outputs ${outputs.map((o) => `${o.name}[${o.dims.join('x')}]`).join(' ')}`);
  } catch (e) {
    console.error(`FAIL ${m.id}: ${e.message.split('\n')[0]}`);
    ++failed;
  }
}
process.exit(failed ? 1 : 0);
