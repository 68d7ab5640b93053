// bench/nodered/settings.js - Node-RED for `make bench` (bench/peer_nodered.sh):
// no editor, no admin API, no HTTP nodes, no credential encryption prompt;
// the flow (flow.json) reads its ports and measurement from the environment.
module.exports = {
  uiHost: "127.0.0.1",
  uiPort: parseInt(process.env.NR_PORT || "1880", 10),
  httpAdminRoot: false,          // no editor, no admin API
  httpNodeRoot: false,           // no HTTP-in endpoints
  disableEditor: true,
  userDir: process.env.NR_USER_DIR,
  flowFile: process.env.NR_FLOW_FILE,
  flowFilePretty: false,
  credentialSecret: false,       // the flow has no secrets: no key, no prompt
  contextStorage: { default: { module: "memory" } },
  editorTheme: { projects: { enabled: false } },
  telemetry: { enabled: false },
  diagnostics: { enabled: false },
  runtimeState: { enabled: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false } },
  // info: the bench waits for "Connected to broker"
  logging: { console: { level: process.env.NR_LOG_LEVEL || "info", metrics: false, audit: false } },
};
