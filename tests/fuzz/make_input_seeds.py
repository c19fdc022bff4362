#!/usr/bin/env python3
"""Writes the seed corpora of the input-file fuzz targets (python3, standard library only):

  corpus/fuzz_npy/    one small .npy per dtype the reader takes, v1/v2/v3 headers
  corpus/fuzz_image/  PNG (grey, RGB, RGBA, grey+alpha, palette+tRNS, 16-bit, 1-bit, interlaced),
                      JPEG (baseline grey, baseline 4:2:0 colour, progressive colour), BMP (8/24/32-bit)
  corpus/fuzz_idx/    IDX images and labels, plain and gzip (first byte: 0 images, 1 labels)

The JPEGs come from the small encoder below (real DCT, flat quantisation, Huffman tables of
fixed-length codes), enough for valid files the decoder takes.

  python3 tests/fuzz/make_input_seeds.py
"""
import gzip
import math
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pattern(w, h, channels, maximum=255):
    return [(x * 37 + y * 91 + c * 53 + x * y * 7) % (maximum + 1)
            for y in range(h) for x in range(w) for c in range(channels)]


# ---- .npy --------------------------------------------------------------------------------

def npy(descr, shape, data, version=1):
    shape_text = "(" + "".join(f"{d}, " for d in shape).rstrip(" ")
    shape_text = shape_text.rstrip(",") + ("," if len(shape) == 1 else "") + ")"
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}"
    prefix = 10 if version == 1 else 12
    header += " " * ((64 - (prefix + len(header) + 1) % 64) % 64) + "\n"
    size = struct.pack("<H" if version == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header.encode("latin1") + data


def npy_seeds():
    values = [0, 1, 2, 3, 4, 5]
    for descr, fmt in [("<f4", "f"), ("<f8", "d"), ("|i1", "b"), ("<i2", "h"), ("<i4", "i"), ("<i8", "q"),
                       ("|u1", "B"), ("<u2", "H"), ("<u4", "I"), ("<u8", "Q"), ("|b1", "?")]:
        data = struct.pack("<" + fmt * 6, *[bool(v) if fmt == "?" else v for v in values])
        write("fuzz_npy", descr.strip("<|").replace("?", "b") + ".npy", npy(descr, (2, 3), data))
    write("fuzz_npy", "v2_scalar.npy", npy("<f4", (), struct.pack("<f", 1.5), version=2))
    write("fuzz_npy", "v3_4d.npy", npy("<f4", (1, 1, 2, 2), struct.pack("<4f", 1, 2, 3, 4), version=3))
    write("fuzz_npy", "empty.npy", npy("<f4", (0, 3), b""))


# ---- PNG ---------------------------------------------------------------------------------

def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_rows(w, h, depth, colour, samples, x0=0, y0=0, dx=1, dy=1):
    ch = CHANNELS[colour]
    raw = bytearray()
    for y in range(y0, h, dy):
        raw.append(0)
        acc, bits = 0, 0
        for x in range(x0, w, dx):
            for c in range(ch):
                v = samples[(y * w + x) * ch + c]
                if depth == 16:
                    raw += struct.pack(">H", v)
                    continue
                acc, bits = acc << depth | v, bits + depth
                if bits == 8:
                    raw.append(acc)
                    acc, bits = 0, 0
        if bits:
            raw.append(acc << (8 - bits))
    return bytes(raw)


def png(w, h, depth, colour, samples, palette=b"", trns=b"", interlaced=False):
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, int(interlaced)))
    if palette:
        out += png_chunk(b"PLTE", palette)
    if trns:
        out += png_chunk(b"tRNS", trns)
    if interlaced:
        raw = b"".join(png_rows(w, h, depth, colour, samples, *p) for p in
                       [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
                       if p[0] < w and p[1] < h)
    else:
        raw = png_rows(w, h, depth, colour, samples)
    return out + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")


# ---- BMP ---------------------------------------------------------------------------------

def bmp(w, h, bits, rgb, top_down=False):
    stride = (w * bits + 31) // 32 * 4
    palette = b"".join(struct.pack("<I", i * 0x010101) for i in range(256)) if bits == 8 else b""
    offset = 14 + 40 + len(palette)
    out = b"BM" + struct.pack("<IHHI", offset + stride * h, 0, 0, offset)
    out += struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bits, 0, stride * h, 2835, 2835, 0, 0)
    out += palette
    rows = range(h) if top_down else range(h - 1, -1, -1)
    for y in rows:
        line = bytearray()
        for x in range(w):
            r, g, b = rgb[(y * w + x) * 3:(y * w + x) * 3 + 3]
            line += bytes([g]) if bits == 8 else bytes([b, g, r] + ([255] if bits == 32 else []))
        out += bytes(line) + b"\0" * (stride - len(line))
    return out


# ---- JPEG --------------------------------------------------------------------------------

ZIGZAG = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14,
          21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53,
          60, 61, 54, 47, 55, 62, 63]
QUANT = 4
# Fixed-length Huffman codes: DC categories 0..11 in 4 bits; AC: every (run, size) with
# size 1..10, EOB, ZRL and the progressive EOB runs, in 8 bits.
DC_SYMBOLS = list(range(12))
AC_SYMBOLS = [0x00, 0xF0] + [r << 4 | s for r in range(16) for s in range(1, 11)] + [r << 4 for r in range(1, 15)]


def huffman_table(symbols, length):
    counts = [0] * 16
    counts[length - 1] = len(symbols)
    codes = {s: (i, length) for i, s in enumerate(symbols)}
    return bytes(counts) + bytes(symbols), codes


DC_TABLE, DC_CODES = huffman_table(DC_SYMBOLS, 4)
AC_TABLE, AC_CODES = huffman_table(AC_SYMBOLS, 8)


class Bits:
    def __init__(self):
        self.out, self.acc, self.n = bytearray(), 0, 0

    def put(self, value, length):
        for i in range(length - 1, -1, -1):
            self.acc = self.acc << 1 | (value >> i) & 1
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)
                self.acc, self.n = 0, 0

    def flush(self):
        while self.n:
            self.put(1, 1)
        return bytes(self.out)


def magnitude(v):
    size = abs(v).bit_length()
    return size, (v if v >= 0 else v + (1 << size) - 1)


def fdct(block):
    out = [0] * 64
    for u in range(8):
        for v in range(8):
            s = sum(block[y * 8 + x] * math.cos((2 * x + 1) * u * math.pi / 16) * math.cos((2 * y + 1) * v * math.pi / 16)
                    for y in range(8) for x in range(8))
            cu, cv = (math.sqrt(0.5) if u == 0 else 1), (math.sqrt(0.5) if v == 0 else 1)
            out[v * 8 + u] = round(s * cu * cv / 4 / QUANT)
    return [out[z] for z in ZIGZAG]


def put_dc(bits, diff):
    size, value = magnitude(diff)
    bits.put(*DC_CODES[size])
    bits.put(value, size)


def put_ac(bits, coefs, start, end):
    run = 0
    for k in range(start, end + 1):
        if coefs[k] == 0:
            run += 1
            continue
        while run > 15:
            bits.put(*AC_CODES[0xF0])
            run -= 16
        size, value = magnitude(coefs[k])
        bits.put(*AC_CODES[run << 4 | size])
        bits.put(value, size)
        run = 0
    if run:
        bits.put(*AC_CODES[0x00])


def segment(marker, body):
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(body) + 2) + body


def planes_of(w, h, channels, rgb, sub):
    """Component planes (level-shifted), chroma averaged over sub x sub pixels."""
    if channels == 1:
        return [[rgb[i] - 128 for i in range(w * h)]]
    ycc = [[], [], []]
    for i in range(w * h):
        r, g, b = rgb[3 * i:3 * i + 3]
        ycc[0].append(0.299 * r + 0.587 * g + 0.114 * b - 128)
        ycc[1].append(-0.1687 * r - 0.3313 * g + 0.5 * b)
        ycc[2].append(0.5 * r - 0.4187 * g - 0.0813 * b)
    planes = [ycc[0]]
    for c in (1, 2):
        cw, chh = w // sub, h // sub
        planes.append([sum(ycc[c][(y * sub + j) * w + x * sub + i] for j in range(sub) for i in range(sub)) / sub / sub
                       for y in range(chh) for x in range(cw)])
    return planes


def blocks_of(plane, pw, bx, by):
    return [plane[(by * 8 + y) * pw + bx * 8 + x] for y in range(8) for x in range(8)]


def jpeg(w, h, channels, rgb, sub=1, progressive=False):
    """w, h multiples of 8 * sub."""
    planes = planes_of(w, h, channels, rgb, sub)
    dims = [(w, h)] + [(w // sub, h // sub)] * (channels - 1)
    coefs = [{(bx, by): fdct(blocks_of(p, pw, bx, by)) for by in range(ph // 8) for bx in range(pw // 8)}
             for p, (pw, ph) in zip(planes, dims)]
    out = b"\xff\xd8" + segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
    out += segment(0xDB, b"\0" + bytes([QUANT] * 64))
    comps = b"".join(bytes([c + 1, (sub << 4 | sub) if c == 0 else 0x11, 0]) for c in range(channels))
    out += segment(0xC2 if progressive else 0xC0, struct.pack(">BHHB", 8, h, w, channels) + comps)
    out += segment(0xC4, b"\x00" + DC_TABLE + b"\x10" + AC_TABLE)

    def mcus():
        for my in range(h // (8 * sub)):
            for mx in range(w // (8 * sub)):
                yield mx, my

    def scan(components, ss, se, body):
        header = bytes([len(components)]) + b"".join(bytes([c + 1, 0x00]) for c in components)
        return segment(0xDA, header + bytes([ss, se, 0])) + body

    if not progressive:
        bits, pred = Bits(), [0] * channels
        for mx, my in mcus():
            for c in range(channels):
                n = sub if c == 0 else 1
                for j in range(n):
                    for i in range(n):
                        block = coefs[c][(mx * n + i, my * n + j)]
                        put_dc(bits, block[0] - pred[c])
                        pred[c] = block[0]
                        put_ac(bits, block, 1, 63)
        out += scan(list(range(channels)), 0, 63, bits.flush())
    else:  # DC of all components (interleaved), then two AC bands per component
        bits, pred = Bits(), [0] * channels
        for mx, my in mcus():
            for c in range(channels):
                n = sub if c == 0 else 1
                for j in range(n):
                    for i in range(n):
                        block = coefs[c][(mx * n + i, my * n + j)]
                        put_dc(bits, block[0] - pred[c])
                        pred[c] = block[0]
        out += scan(list(range(channels)), 0, 0, bits.flush())
        for ss, se in ((1, 5), (6, 63)):
            for c in range(channels):
                bits = Bits()
                pw, ph = dims[c]
                for by in range(ph // 8):
                    for bx in range(pw // 8):
                        put_ac(bits, coefs[c][(bx, by)], ss, se)
                out += scan([c], ss, se, bits.flush())
    return out + b"\xff\xd9"


def image_seeds():
    w, h = 5, 3
    write("fuzz_image", "grey.png", png(w, h, 8, 0, pattern(w, h, 1)))
    write("fuzz_image", "rgb.png", png(w, h, 8, 2, pattern(w, h, 3)))
    write("fuzz_image", "rgba_interlaced.png", png(9, 9, 8, 6, pattern(9, 9, 4), interlaced=True))
    write("fuzz_image", "grey_alpha.png", png(w, h, 8, 4, pattern(w, h, 2)))
    palette = bytes(v for i in range(16) for v in (i * 16, 255 - i * 8, i))
    write("fuzz_image", "palette_trns.png", png(w, h, 4, 3, pattern(w, h, 1, 15), palette, b"\x40" * 16))
    write("fuzz_image", "rgb16.png", png(w, h, 16, 2, pattern(w, h, 3, 65535)))
    write("fuzz_image", "grey1.png", png(w, h, 1, 0, pattern(w, h, 1, 1)))
    write("fuzz_image", "rgb24.bmp", bmp(w, h, 24, pattern(w, h, 3)))
    write("fuzz_image", "rgb32_top_down.bmp", bmp(w, h, 32, pattern(w, h, 3), top_down=True))
    write("fuzz_image", "grey8.bmp", bmp(w, h, 8, pattern(w, h, 3)))
    write("fuzz_image", "grey.jpg", jpeg(8, 8, 1, pattern(8, 8, 1)))
    write("fuzz_image", "colour_420.jpg", jpeg(16, 16, 3, pattern(16, 16, 3), sub=2))
    write("fuzz_image", "colour_progressive.jpg", jpeg(8, 8, 3, pattern(8, 8, 3), progressive=True))


# ---- IDX ---------------------------------------------------------------------------------

def idx(dims, data):
    return b"\0\0\x08" + bytes([len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def idx_seeds():
    images = idx((3, 4, 5), bytes(pattern(4, 5, 3)))
    labels = idx((3,), b"\x01\x02\x09")
    write("fuzz_idx", "images.idx", b"\0" + images)
    write("fuzz_idx", "images.idx.gz", b"\0" + gzip.compress(images, mtime=0))
    write("fuzz_idx", "labels.idx", b"\1" + labels)
    write("fuzz_idx", "labels.idx.gz", b"\1" + gzip.compress(labels, mtime=0))


README = ("Seeds for {target}: written by tests/fuzz/make_input_seeds.py (python3, standard library only; "
          "run it to regenerate).\n")

if __name__ == "__main__":
    npy_seeds()
    image_seeds()
    idx_seeds()
    for target in ("fuzz_npy", "fuzz_image", "fuzz_idx"):
        write(target, "README", README.format(target=target).encode())
