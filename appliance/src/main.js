'use strict';
// Main step: obtain harden-runner, start it (enforcement is in place when this step ends), print the insights line.
// The stop token goes to the post step only, through the runner's step state (GITHUB_STATE → STATE_stop-token).

const crypto = require('node:crypto');
const os = require('node:os');
const lib = require('./lib');

async function main(env = process.env) {
  let inputs;
  let policy;
  let command;
  try {
    inputs = lib.readInputs(env);
    policy = lib.resolvePolicy(inputs, env);
    command = await lib.obtainBinary(inputs, env);
  } catch (e) {
    lib.annotate('error', `HardenRunner: ${e.message}`);
    return 1;
  }

  const uid = process.getuid();
  const token = crypto.randomBytes(24).toString('hex');
  process.stdout.write(`::add-mask::${token}\n`); // the runner hides it from every log of the job
  const args = lib.startArgs(inputs, policy, uid === 0 ? null : os.userInfo().username, env.GITHUB_WORKSPACE);
  const result = lib.runCommand(lib.privileged([...command, ...args], uid), { ...env, [lib.STOP_TOKEN_VARIABLE]: token });
  if (result.status !== 0) {
    // block mode stays closed when start fails after the table went in (the appliance says so above)
    lib.annotate('error', `HardenRunner: 'harden-runner start' failed (exit ${result.status}); ${result.stderr.trim().split('\n').slice(-1)[0] || 'see the log above'}`);
    return 1;
  }

  lib.appendFileCommand(env.GITHUB_STATE, 'command', JSON.stringify(command));
  lib.appendFileCommand(env.GITHUB_STATE, 'state-dir', inputs.stateDir);
  lib.appendFileCommand(env.GITHUB_STATE, 'stop-token', token);
  lib.appendFileCommand(env.GITHUB_ENV, 'HARDEN_RUNNER_STATE_DIR', inputs.stateDir);
  // for later steps, e.g. '$HARDEN_RUNNER_COMMAND report --live --format html -o report.html' (works without sudo)
  lib.appendFileCommand(env.GITHUB_ENV, 'HARDEN_RUNNER_COMMAND', command.join(' '));

  const started = lib.parseStarted(result.stdout);
  const mode = started ? started.mode : (inputs.egressPolicy || 'policy');
  const run = started ? `run ${started.runId}` : 'run unknown';
  process.stdout.write(`HardenRunner insights: ${mode} mode, ${run}, policy ${policy || '(none: audit, nothing allowed)'}; `
    + `the summary is added to this job's summary at the end of the job; full report: harden-runner report --state-dir ${inputs.stateDir} --format html\n`);
  return 0;
}

if (require.main === module) {
  main().then((code) => { process.exitCode = code; }, (e) => { lib.annotate('error', `HardenRunner: ${e.stack || e}`); process.exitCode = 1; });
}

module.exports = { main };
