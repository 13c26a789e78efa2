#!/usr/bin/env node
// Tokenizes files with the extension's TextMate grammar, the way VS Code does it
// (vscode-textmate on the Oniguruma regex engine compiled to WebAssembly), and prints the
// tokens as JSON, for tests/test_editor_grammar.py:
//
//   node test/tokenize.js FILE...
//   -> {"FILE": [[{"text": "app", "scopes": ["source.setlist", ...]}, ...], ...], ...}
//
// One list of tokens per line (lines split at "\n"; a "\r" stays in its line). The texts of
// a line's tokens concatenate to the line. Needs the devDependencies (`npm ci`).
'use strict';

const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const ROOT = path.resolve(__dirname, '..');
const GRAMMAR = path.join(ROOT, 'syntaxes', 'setlist.tmLanguage.json');

async function loadGrammar() {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== 'source.setlist') {
        return null;
      }
      return vsctm.parseRawGrammar(fs.readFileSync(GRAMMAR, 'utf8'), GRAMMAR);
    },
  });
  const grammar = await registry.loadGrammar('source.setlist');
  if (!grammar) {
    throw new Error(`cannot load ${GRAMMAR}`);
  }
  return grammar;
}

function tokenize(grammar, text) {
  const lines = [];
  let stack = vsctm.INITIAL;
  for (const line of text.split('\n')) {
    // No time limit: a slow pattern must show up as a slow test, not as a cut-off line.
    const result = grammar.tokenizeLine(line, stack, 0);
    if (result.stoppedEarly) {
      throw new Error(`tokenizing stopped early in line ${JSON.stringify(line)}`);
    }
    lines.push(result.tokens.map((token) => ({
      text: line.substring(token.startIndex, Math.min(token.endIndex, line.length)),
      scopes: token.scopes,
    })).filter((token) => token.text.length > 0));
    stack = result.ruleStack;
  }
  return lines;
}

async function main(files) {
  if (files.length === 0) {
    process.stderr.write('usage: node test/tokenize.js FILE...\n');
    return 2;
  }
  const grammar = await loadGrammar();
  const out = {};
  for (const file of files) {
    out[file] = tokenize(grammar, fs.readFileSync(file, 'utf8'));
  }
  process.stdout.write(JSON.stringify(out));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error) => { process.stderr.write(`${error.stack || error}\n`); process.exitCode = 1; },
);
