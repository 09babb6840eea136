// Preloaded (NODE_OPTIONS=--require) into a vault-tool process: Node emits one warning of its own as the run ends.
let once = false;
process.on('beforeExit', () => {
  if (once) return;
  once = true;
  process.emitWarning('a warning of Node', 'TestWarning');
});
