// The Setlist extension: starts `setlist lsp` (the language server of the `setlist`
// command) over stdio for Setlist documents. Plain JavaScript, no build step.
'use strict';

const path = require('path');
const vscode = require('vscode');
const { LanguageClient, State } = require('vscode-languageclient/node');

const SECTION = 'setlist';
let client;
let output;
let trace;

// The settings that shape the server process: a change restarts it.
const RESTART_ON = ['setlist.path', 'setlist.inventory'];

function workspaceFolder() {
  const folders = vscode.workspace.workspaceFolders;
  return folders && folders.length > 0 ? folders[0].uri.fsPath : undefined;
}

// `${workspaceFolder}` is replaced, and a relative path is read from the first workspace
// folder, as VS Code's own path settings do.
function resolvePath(value) {
  const folder = workspaceFolder();
  let resolved = value.replace(/\$\{workspaceFolder\}/g, folder || '.');
  if (folder && !path.isAbsolute(resolved) && /[\\/]/.test(resolved)) {
    resolved = path.join(folder, resolved);
  }
  return resolved;
}

function createClient() {
  const config = vscode.workspace.getConfiguration(SECTION);
  const command = resolvePath(config.get('path') || 'setlist');
  const inventory = (config.get('inventory') || '').trim();
  // No `transport`: the client then talks over the process's stdin and stdout and adds no
  // `--stdio` argument.
  const serverOptions = {
    command,
    args: ['lsp'],
    options: { cwd: workspaceFolder() },
  };
  const clientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'setlist' },
      { scheme: 'untitled', language: 'setlist' },
    ],
    initializationOptions: {
      inventory: inventory ? resolvePath(path.isAbsolute(inventory) ? inventory
        : path.join('${workspaceFolder}', inventory)) : null,
    },
    // No `synchronize.fileEvents`: the server registers the files it watches itself
    // (spec files, setlist.lock and the configured inventory).
    outputChannel: output,
    traceOutputChannel: trace,
  };
  // The client id `setlist` makes the client read the `setlist.trace.server` setting.
  return new LanguageClient(SECTION, 'Setlist Language Server', serverOptions, clientOptions);
}

async function start() {
  client = createClient();
  try {
    await client.start();
  } catch (error) {
    const command = vscode.workspace.getConfiguration(SECTION).get('path') || 'setlist';
    const choice = await vscode.window.showErrorMessage(
      `Setlist: could not start the language server \`${command} lsp\`: ${error.message || error}. ` +
      'Set "setlist.path" to the setlist executable (for example .venv/bin/setlist).',
      'Open Settings');
    if (choice === 'Open Settings') {
      vscode.commands.executeCommand('workbench.action.openSettings', 'setlist.path');
    }
  }
}

async function stop() {
  const running = client;
  client = undefined;
  if (running && running.state !== State.Stopped) {
    try {
      await running.stop();
    } catch (error) {
      output.appendLine(`stopping the language server failed: ${error.message || error}`);
    }
  }
}

async function restart() {
  await stop();
  await start();
}

async function activate(context) {
  output = vscode.window.createOutputChannel('Setlist Language Server');
  trace = vscode.window.createOutputChannel('Setlist Language Server Trace');
  context.subscriptions.push(
    output,
    trace,
    vscode.commands.registerCommand('setlist.restartServer', restart),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (RESTART_ON.some((setting) => event.affectsConfiguration(setting))) {
        return restart();
      }
      return undefined;
    }),
    { dispose: () => { stop(); } },
  );
  await start();
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
