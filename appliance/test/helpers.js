'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const SRC = path.resolve(__dirname, '..', 'src');
const REPO = path.resolve(__dirname, '..', '..');

/** A fresh directory with the runner's files (GITHUB_ENV, GITHUB_STATE, GITHUB_STEP_SUMMARY) and a workspace. */
function runnerFiles(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hr-action-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = {
    dir,
    workspace: path.join(dir, 'workspace'),
    env: path.join(dir, 'github_env'),
    state: path.join(dir, 'github_state'),
    summary: path.join(dir, 'step_summary.md'),
  };
  fs.mkdirSync(files.workspace);
  for (const f of [files.env, files.state, files.summary]) fs.writeFileSync(f, '');
  return files;
}

/** Runs src/<script> as the runner would: a node process with INPUT_* and the file-command variables. */
function runScript(script, files, inputs = {}, extraEnv = {}) {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME || '/root',
    DOTNET_CLI_TELEMETRY_OPTOUT: '1',
    GITHUB_WORKSPACE: files.workspace,
    GITHUB_ENV: files.env,
    GITHUB_STATE: files.state,
    GITHUB_STEP_SUMMARY: files.summary,
    RUNNER_TEMP: files.dir,
    ...extraEnv,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const r = spawnSync(process.execPath, [path.join(SRC, script)], { env, encoding: 'utf8', timeout: 120000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, text: `${r.stdout}\n${r.stderr}` };
}

/** The harden-runner.dll the solution build produced (or $HARDEN_RUNNER_TEST_BIN), or null. */
function builtBinary() {
  if (process.env.HARDEN_RUNNER_TEST_BIN) return process.env.HARDEN_RUNNER_TEST_BIN;
  for (const c of ['Debug', 'Release']) {
    const p = path.join(REPO, 'src', 'HardenRunner.Cli', 'bin', c, 'net10.0', 'harden-runner.dll');
    if (fs.existsSync(p)) return p;
  }
  return null;
}

module.exports = { SRC, REPO, runnerFiles, runScript, builtBinary };
