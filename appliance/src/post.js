'use strict';
// Post step (runs always): 'harden-runner stop' ends enforcement, restores sudo and the trust stores, and appends
// the Markdown summary to $GITHUB_STEP_SUMMARY itself; this step only checks that it did. It uploads nothing.

const fs = require('node:fs');
const lib = require('./lib');

function size(file) {
  try { return fs.statSync(file).size; } catch { return 0; }
}

async function post(env = process.env) {
  const stateDir = env['STATE_state-dir'];
  const token = env['STATE_stop-token'];
  let command;
  try {
    command = JSON.parse(env.STATE_command || 'null');
  } catch {
    command = null;
  }
  if (!stateDir || !Array.isArray(command) || command.length === 0) {
    process.stdout.write('HardenRunner: the main step did not start the appliance; nothing to stop\n');
    return 0;
  }

  // root stops directly; another user with the stop token (no sudo: disable-sudo may have removed it)
  const summaryFile = env.GITHUB_STEP_SUMMARY;
  const before = summaryFile ? size(summaryFile) : 0;
  const result = lib.runCommand([...command, 'stop', '--state-dir', stateDir], { ...env, [lib.STOP_TOKEN_VARIABLE]: token || '' });
  if (result.status !== 0) {
    if (/no running appliance answers/.test(result.stderr)) {
      lib.annotate('warning', 'HardenRunner: the appliance was no longer running when the job ended (stopped by a step of this job, or it died); enforcement ended early');
    } else {
      lib.annotate('error', `HardenRunner: 'harden-runner stop' failed (exit ${result.status})`);
    }
    return 1;
  }
  if (summaryFile && size(summaryFile) <= before) {
    lib.annotate('warning', 'HardenRunner: harden-runner stop did not add a summary to the job summary');
  }
  return 0;
}

if (require.main === module) {
  post().then((code) => { process.exitCode = code; }, (e) => { lib.annotate('error', `HardenRunner: ${e.stack || e}`); process.exitCode = 1; });
}

module.exports = { post };
