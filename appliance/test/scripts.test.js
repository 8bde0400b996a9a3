'use strict';
// main.js and post.js as the runner runs them: separate node processes with INPUT_* variables and temporary
// GITHUB_ENV / GITHUB_STATE / GITHUB_STEP_SUMMARY files. Paths that would start an appliance on this machine are
// not taken here (that runs in the network-namespace lab: tests/HardenRunner.EndToEnd.Tests/ActionTests.cs);
// the real harden-runner is used for the paths that fail before anything changes.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { runnerFiles, runScript, builtBinary } = require('./helpers');

const binary = builtBinary();
const needsBinary = binary ? false : 'harden-runner.dll is not built (dotnet build the solution, or set HARDEN_RUNNER_TEST_BIN)';

test('main: an invalid input fails the step with an annotation and writes nothing', (t) => {
  const files = runnerFiles(t);
  const r = runScript('main.js', files, { 'egress-policy': 'enforce' });
  assert.equal(r.status, 1, r.text);
  assert.match(r.stdout, /^::error::HardenRunner: input 'egress-policy' must be audit or block/m);
  assert.equal(fs.readFileSync(files.state, 'utf8'), '');
  assert.equal(fs.readFileSync(files.env, 'utf8'), '');
});

test('main: no binary, no pinned release → a clear error naming the ways out', (t) => {
  const files = runnerFiles(t);
  const r = runScript('main.js', files, {});
  assert.equal(r.status, 1, r.text);
  assert.match(r.stdout, /::error::HardenRunner: no pinned harden-runner release for linux-\w+ in release\.json; set 'harden-runner-path'/);
});

test('main: a missing harden-runner-path fails', (t) => {
  const files = runnerFiles(t);
  const r = runScript('main.js', files, { 'harden-runner-path': path.join(files.dir, 'nope') });
  assert.equal(r.status, 1, r.text);
  assert.match(r.stdout, /harden-runner-path: .*nope does not exist/);
});

test('main: an invalid policy file is refused by harden-runner start (real binary); nothing is saved for post', { skip: needsBinary }, (t) => {
  const files = runnerFiles(t);
  fs.mkdirSync(path.join(files.workspace, '.harden'));
  // audit mode: an invalid policy that asks for block mode would leave this machine's egress closed (by design)
  fs.writeFileSync(path.join(files.workspace, '.harden', 'policy.yml'), 'egress-policy: audit\nallowed-endpoints:\n  - github.com:70000\n');
  const r = runScript('main.js', files, { 'harden-runner-path': binary, 'state-dir': path.join(files.dir, 'state') });
  assert.equal(r.status, 1, r.text);
  if (process.getuid() === 0) {
    assert.match(r.stderr, /port '70000' must be a number from 1 to 65535/);
  }
  assert.match(r.stdout, /::error::HardenRunner: 'harden-runner start' failed/);
  assert.equal(fs.readFileSync(files.state, 'utf8'), '');
  assert.equal(fs.readFileSync(files.env, 'utf8'), '');
});

test('post: nothing started → nothing to stop, success', (t) => {
  const files = runnerFiles(t);
  const r = runScript('post.js', files, {});
  assert.equal(r.status, 0, r.text);
  assert.match(r.stdout, /did not start the appliance; nothing to stop/);
  assert.equal(fs.readFileSync(files.summary, 'utf8'), '');
});

test('post: the appliance already gone → warning and failure (real binary)', { skip: needsBinary }, (t) => {
  const files = runnerFiles(t);
  const state = path.join(files.dir, 'state');
  fs.mkdirSync(state);
  const r = runScript('post.js', files, {}, {
    STATE_command: JSON.stringify(['dotnet', binary]),
    'STATE_state-dir': state,
    'STATE_stop-token': 'a'.repeat(48),
  });
  assert.equal(r.status, 1, r.text);
  assert.match(r.stdout, /::warning::HardenRunner: the appliance was no longer running when the job ended/);
});
