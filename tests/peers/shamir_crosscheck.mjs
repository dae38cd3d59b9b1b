// Cross-check peer for vigie's Shamir secret sharing (src/crypto/shamir_test.cc): runs the
// independent npm package `shamir-secret-sharing`, which uses HashiCorp Vault's share format.
//
//   node shamir_crosscheck.mjs split <hex secret> <shares> <threshold>   -> one hex share per line
//   node shamir_crosscheck.mjs combine <hex share> <hex share> ...       -> the hex secret
//
// The package is ESM, so NODE_PATH cannot locate it: it is imported from
// $VIGIE_NPM_DIR/node_modules (default: <repo>/build/npm, where scripts/install-deps.sh puts it).
// Exit status: 0 on success, 2 on bad usage, 3 if the package is missing, 1 on any other error.
// Test-only: the secrets handled here are random test values, never real ones.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const npmDir = process.env.VIGIE_NPM_DIR || path.resolve(here, '../../build/npm');
const modulePath = path.join(npmDir, 'node_modules', 'shamir-secret-sharing', 'esm', 'index.js');

function usage(message) {
  process.stderr.write(`shamir_crosscheck: ${message}\n` +
    'usage: shamir_crosscheck.mjs split <hex> <shares> <threshold> | combine <hex>...\n');
  process.exit(2);
}

function fromHex(hex) {
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) usage(`not an even-length hex string: ${hex.slice(0, 16)}...`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

const toHex = (bytes) => Buffer.from(bytes).toString('hex');

if (!existsSync(modulePath)) {
  process.stderr.write(`shamir_crosscheck: ${modulePath} not found; ` +
    'install the test peers with scripts/install-deps.sh or set VIGIE_NPM_DIR\n');
  process.exit(3);
}
const { split, combine } = await import(pathToFileURL(modulePath).href);

const [command, ...args] = process.argv.slice(2);
try {
  if (command === 'split') {
    if (args.length !== 3) usage('split takes <hex secret> <shares> <threshold>');
    const shares = await split(fromHex(args[0]), Number(args[1]), Number(args[2]));
    process.stdout.write(shares.map(toHex).join('\n') + '\n');
  } else if (command === 'combine') {
    if (args.length < 1) usage('combine takes at least one hex share');
    const secret = await combine(args.map(fromHex));
    process.stdout.write(toHex(secret) + '\n');
  } else {
    usage(`unknown command ${command}`);
  }
} catch (err) {
  process.stderr.write(`shamir_crosscheck: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
}
