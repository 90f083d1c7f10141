// The VS Code client: starts `archdsl lsp` (the command in the setting archdsl.server.command) for
// .arch files. Everything it shows (diagnostics, hovers, inlay hints, outline, fixes) comes from the server.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const settings = vscode.workspace.getConfiguration("archdsl");
  const [command, ...args] = settings.get("server.command", ["archdsl", "lsp"]);
  client = new LanguageClient(
    "archdsl",
    "archdsl language server",
    { command, args },
    {
      documentSelector: [{ scheme: "file", language: "archdsl" }],
      initializationOptions: { inlayHints: settings.get("inlayHints", true) },
    },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
