#!/usr/bin/env node
// Runs extension.js against stand-ins for the `vscode` API and vscode-languageclient, and
// prints as JSON what it did: the language clients it created (server command, arguments,
// initialization options), starts and stops, commands, error messages. Drives: activate,
// an unrelated setting change, a change of setlist.path and setlist.inventory, the
// restart command, a server that cannot start, deactivate. For tests/test_editor_grammar.py.
'use strict';

const Module = require('module');

const WORKSPACE = '/work/space';
const log = [];
const settings = { path: 'setlist', inventory: '' };
const commands = {};
let onConfiguration;

const vscode = {
  workspace: {
    workspaceFolders: [{ uri: { fsPath: WORKSPACE } }],
    getConfiguration: (section) => ({
      get: (key) => (section === 'setlist' ? settings[key] : undefined),
    }),
    createFileSystemWatcher: (glob) => ({ glob, dispose() {} }),
    onDidChangeConfiguration: (listener) => {
      onConfiguration = listener;
      return { dispose() {} };
    },
  },
  window: {
    createOutputChannel: (name) => ({ name, append() {}, appendLine() {}, dispose() {} }),
    showErrorMessage: async (message) => {
      log.push({ event: 'error', message });
      return undefined;
    },
  },
  commands: {
    registerCommand: (id, handler) => {
      commands[id] = handler;
      return { dispose() {} };
    },
    executeCommand: async () => undefined,
  },
};

const State = { Stopped: 1, Starting: 3, Running: 2 };
let serial = 0;

class LanguageClient {
  constructor(id, name, serverOptions, clientOptions) {
    this.serial = ++serial;
    this.state = State.Stopped;
    log.push({
      event: 'create',
      client: this.serial,
      id,
      name,
      server: serverOptions,
      documentSelector: clientOptions.documentSelector,
      initializationOptions: clientOptions.initializationOptions,
      watching: clientOptions.synchronize ? clientOptions.synchronize.fileEvents : null,
    });
    this.command = serverOptions.command;
  }

  async start() {
    if (this.command.includes('missing')) {
      throw new Error(`spawn ${this.command} ENOENT`);
    }
    this.state = State.Running;
    log.push({ event: 'start', client: this.serial });
  }

  async stop() {
    this.state = State.Stopped;
    log.push({ event: 'stop', client: this.serial });
  }
}

const load = Module._load;
Module._load = function stubbed(request, ...rest) {
  if (request === 'vscode') {
    return vscode;
  }
  if (request === 'vscode-languageclient/node') {
    return { LanguageClient, State };
  }
  return load.call(this, request, ...rest);
};

function change(...changed) {
  log.push({ event: 'configuration', changed });
  return onConfiguration({ affectsConfiguration: (section) => changed.includes(section) });
}

async function main() {
  const extension = require('../extension.js');
  const context = { subscriptions: [] };
  await extension.activate(context);
  log.push({ event: 'commands', ids: Object.keys(commands).sort() });
  await change('editor.fontSize');
  settings.path = '${workspaceFolder}/.venv/bin/setlist';
  settings.inventory = 'clusters.yaml';
  await change('setlist.path', 'setlist.inventory');
  await commands['setlist.restartServer']();
  settings.path = '/nowhere/missing/setlist';
  await change('setlist.path');
  settings.path = 'setlist';
  settings.inventory = '/etc/setlist/clusters.yaml';
  await change('setlist.inventory');
  await extension.deactivate();
  process.stdout.write(JSON.stringify(log));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exitCode = 1;
});
