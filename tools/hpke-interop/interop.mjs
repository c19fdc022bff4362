// The Node side of tests/test_hpke.cpp: RFC 9180 HPKE through the npm packages @hpke/core and
// @hpke/dhkem-x25519 (X25519 from @noble/curves), an implementation independent of
// src/common/hpke.cpp. Suite: base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
// Every byte string is lowercase hex; an empty one is an empty argument or line.
//
//   node interop.mjs derive IKM
//       prints skRm, pkRm of DeriveKeyPair(IKM)
//   node interop.mjs seal PKR INFO EXPCTX L AAD1 PT1 [AAD2 PT2 ...]
//       prints enc, one ciphertext per (AAD, PT) in order, then Export(EXPCTX, L)
//   node interop.mjs open INFO EXPCTX L
//       generates a key pair and prints its public key, then reads from stdin ENC and
//       (AAD, CT) line pairs up to EOF; prints one plaintext per pair (or "!" and the error's
//       name when it does not open), then Export(EXPCTX, L)
//
// Errors go to stderr with exit status 1. Install with `npm ci --ignore-scripts` (make deps-build).
import { Aes256Gcm, CipherSuite, HkdfSha256 } from "@hpke/core";
import { DhkemX25519HkdfSha256 } from "@hpke/dhkem-x25519";

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
});

function bytes(h) {
  if (!/^([0-9a-f]{2})*$/.test(h)) throw new Error(`not lowercase hex: '${h}'`);
  return Uint8Array.from(Buffer.from(h, "hex")); // a fresh buffer, not a view into Node's pool
}
const hex = (b) => Buffer.from(b).toString("hex");
const print = (line) => process.stdout.write(line + "\n"); // synchronous for pipes on Linux

async function readLines() {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop(); // the last line's newline
  return lines;
}

function length(arg) {
  const L = Number(arg);
  if (!Number.isInteger(L) || L < 0) throw new Error(`bad export length '${arg}'`);
  return L;
}

async function derive([ikm]) {
  const kp = await suite.kem.deriveKeyPair(bytes(ikm));
  print(hex(await suite.kem.serializePrivateKey(kp.privateKey)));
  print(hex(await suite.kem.serializePublicKey(kp.publicKey)));
}

async function seal([pkR, info, expCtx, L, ...messages]) {
  if (messages.length % 2 !== 0) throw new Error("seal: AAD and PT must come in pairs");
  const sender = await suite.createSenderContext({
    recipientPublicKey: await suite.kem.deserializePublicKey(bytes(pkR)),
    info: bytes(info),
  });
  print(hex(sender.enc));
  for (let i = 0; i < messages.length; i += 2) {
    print(hex(await sender.seal(bytes(messages[i + 1]), bytes(messages[i]))));
  }
  print(hex(await sender.export(bytes(expCtx), length(L))));
}

async function open([info, expCtx, L]) {
  const kp = await suite.kem.generateKeyPair();
  print(hex(await suite.kem.serializePublicKey(kp.publicKey)));
  const [enc, ...messages] = await readLines();
  if (enc === undefined || messages.length % 2 !== 0) throw new Error("open: expected ENC, then AAD and CT lines in pairs");
  const recipient = await suite.createRecipientContext({ recipientKey: kp, enc: bytes(enc), info: bytes(info) });
  for (let i = 0; i < messages.length; i += 2) {
    try {
      print(hex(await recipient.open(bytes(messages[i + 1]), bytes(messages[i]))));
    } catch (e) {
      print("!" + e.name);
    }
  }
  print(hex(await recipient.export(bytes(expCtx), length(L))));
}

const commands = { derive, seal, open };
const [command, ...args] = process.argv.slice(2);
try {
  if (!(command in commands)) throw new Error(`usage: interop.mjs derive|seal|open ... (got '${command}')`);
  await commands[command](args);
} catch (e) {
  process.stderr.write(`interop.mjs: ${e.name}: ${e.message}\n`);
  process.exit(1);
}
