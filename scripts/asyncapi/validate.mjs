// Validates AsyncAPI documents with the official parser (@asyncapi/parser,
// installed next to this file by scripts/asyncapi-install): prints every
// diagnostic and exits 1 when any is an error.
//
//   node scripts/asyncapi/validate.mjs document.json
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const file = process.argv[2];
if (!file) {
  console.error('usage: node validate.mjs <document>');
  process.exit(2);
}
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'));
const names = ['error', 'warning', 'information', 'hint'];
for (const d of diagnostics) {
  console.log(`${names[d.severity] ?? d.severity}: ${d.code}: ${d.message} at ${JSON.stringify(d.path)}`);
}
const errors = diagnostics.filter((d) => d.severity === 0);
if (!document || errors.length > 0) {
  console.log(`invalid: ${errors.length} error(s)`);
  process.exit(1);
}
console.log(`valid: AsyncAPI ${document.version()}, ${document.channels().length} channels, ${document.operations().length} operations`);
