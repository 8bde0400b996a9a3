'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const lib = require('../src/lib');
const { runnerFiles } = require('./helpers');

const env = (inputs) => Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v]));

test('inputs: defaults match action.yml', () => {
  const i = lib.readInputs({});
  assert.equal(i.egressPolicy, '');
  assert.equal(i.allowedEndpoints, '');
  assert.equal(i.disableSudo, false);
  assert.equal(i.disableSudoAndContainers, false);
  assert.equal(i.disableFileMonitoring, false);
  assert.equal(i.policy, '.harden/policy.yml');
  assert.equal(i.policyIsDefault, true);
  assert.equal(i.stateDir, '/var/lib/harden-runner');
  const yml = fs.readFileSync(path.join(__dirname, '..', 'action.yml'), 'utf8');
  for (const name of ['egress-policy', 'allowed-endpoints', 'disable-sudo', 'disable-sudo-and-containers', 'disable-file-monitoring', 'policy']) {
    assert.match(yml, new RegExp(`^  ${name}:$`, 'm'), `action.yml declares ${name}`);
  }
  assert.match(yml, /using: node20/);
  assert.match(yml, /post: src\/post\.js/);
});

test('inputs: step-security style values', () => {
  const i = lib.readInputs(env({
    'egress-policy': 'Block',
    'allowed-endpoints': '  github.com:443\n  api.github.com:443 registry.npmjs.org\n',
    'disable-sudo': 'TRUE',
    'disable-file-monitoring': 'false',
  }));
  assert.equal(i.egressPolicy, 'block');
  assert.equal(i.allowedEndpoints, 'github.com:443 api.github.com:443 registry.npmjs.org');
  assert.equal(i.disableSudo, true);
  assert.equal(i.disableFileMonitoring, false);
});

test('inputs: invalid values are refused with the input name', () => {
  assert.throws(() => lib.readInputs(env({ 'egress-policy': 'enforce' })), /input 'egress-policy' must be audit or block, not 'enforce'/);
  assert.throws(() => lib.readInputs(env({ 'disable-sudo': 'yes' })), /input 'disable-sudo' must be true or false/);
  assert.throws(() => lib.readInputs(env({ 'state-dir': 'relative/dir' })), /input 'state-dir' must be an absolute path/);
});

test('policy: the default path is optional, another must exist', (t) => {
  const files = runnerFiles(t);
  const e = { GITHUB_WORKSPACE: files.workspace };
  assert.equal(lib.resolvePolicy(lib.readInputs({}), e), null);
  assert.throws(() => lib.resolvePolicy(lib.readInputs(env({ policy: 'ci/policy.yml' })), e), /input 'policy': .*ci\/policy\.yml does not exist/);
  fs.mkdirSync(path.join(files.workspace, '.harden'));
  fs.writeFileSync(path.join(files.workspace, '.harden', 'policy.yml'), 'egress-policy: block\n');
  assert.equal(lib.resolvePolicy(lib.readInputs({}), e), path.join(files.workspace, '.harden', 'policy.yml'));
});

test('start arguments carry every input', () => {
  const i = lib.readInputs(env({ 'egress-policy': 'block', 'allowed-endpoints': 'a.test b.test:22', 'disable-sudo-and-containers': 'true', 'disable-file-monitoring': 'true', 'state-dir': '/tmp/s' }));
  assert.deepEqual(lib.startArgs(i, '/w/.harden/policy.yml', 'runner', '/w'), [
    'start', '--state-dir', '/tmp/s', '--policy', '/w/.harden/policy.yml', '--egress-policy', 'block',
    '--allowed-endpoints', 'a.test b.test:22', '--disable-sudo-and-containers', '--disable-file-monitoring',
    '--runner-user', 'runner', '--workspace', '/w',
  ]);
  assert.deepEqual(lib.startArgs(lib.readInputs({}), null, 'runner', null), ['start', '--state-dir', '/var/lib/harden-runner']);
  assert.deepEqual(lib.startArgs(lib.readInputs(env({ 'disable-sudo': 'true' })), null, null, null), ['start', '--state-dir', '/var/lib/harden-runner', '--disable-sudo']);
});

test('commands: dll under dotnet, sudo only when not root', () => {
  assert.deepEqual(lib.commandFor('/x/harden-runner.dll'), ['dotnet', '/x/harden-runner.dll']);
  assert.deepEqual(lib.commandFor('/x/harden-runner'), ['/x/harden-runner']);
  assert.deepEqual(lib.privileged(['hr', 'start'], 0), ['hr', 'start']);
  assert.deepEqual(lib.privileged(['hr', 'start'], 1001), ['sudo', '-n', '-E', 'hr', 'start']);
});

test('release manifest: pinned https asset with a SHA-256, else a clear refusal', () => {
  assert.throws(() => lib.releaseAsset({ assets: {} }, 'linux-x64'), /no pinned harden-runner release for linux-x64.*harden-runner-path.*build-from-source/);
  assert.throws(() => lib.releaseAsset({ assets: { 'linux-x64': { url: 'http://example.invalid/hr', sha256: 'a'.repeat(64) } } }, 'linux-x64'), /must be https/);
  assert.throws(() => lib.releaseAsset({ assets: { 'linux-x64': { url: 'https://example.invalid/hr', sha256: 'ABC' } } }, 'linux-x64'), /sha256 must be 64/);
  const ok = { url: 'https://example.invalid/hr', sha256: 'b'.repeat(64) };
  assert.deepEqual(lib.releaseAsset({ assets: { 'linux-x64': ok } }, 'linux-x64'), ok);
  // the shipped manifest is valid JSON and pins nothing until a release exists
  const shipped = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'release.json'), 'utf8'));
  for (const [key, asset] of Object.entries(shipped.assets)) lib.releaseAsset(shipped, key);
});

/** A loopback HTTP server: /bin (the payload), /redirect → /bin, /missing → 404. */
async function server(t, payload) {
  const s = http.createServer((req, res) => {
    if (req.url === '/bin') { res.writeHead(200); res.end(payload); return; }
    if (req.url === '/redirect') { res.writeHead(302, { location: '/bin' }); res.end(); return; }
    res.writeHead(404); res.end();
  });
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  t.after(() => s.close());
  return `http://127.0.0.1:${s.address().port}`;
}

test('download: the file is kept (mode 755) only when its SHA-256 matches', async (t) => {
  const files = runnerFiles(t);
  const payload = crypto.randomBytes(100000);
  const sha = crypto.createHash('sha256').update(payload).digest('hex');
  const base = await server(t, payload);
  const dest = path.join(files.dir, 'harden-runner');

  await lib.downloadVerified(`${base}/redirect`, sha, dest, { allowHttp: true });
  assert.deepEqual(fs.readFileSync(dest), payload);
  assert.equal(fs.statSync(dest).mode & 0o777, 0o755);

  const other = path.join(files.dir, 'tampered');
  await assert.rejects(lib.downloadVerified(`${base}/bin`, 'c'.repeat(64), other, { allowHttp: true }), /SHA-256 mismatch .* the file was deleted/);
  assert.equal(fs.existsSync(other), false);
  assert.equal(fs.existsSync(`${other}.partial`), false);

  await assert.rejects(lib.downloadVerified(`${base}/missing`, sha, other, { allowHttp: true }), /HTTP 404/);
  await assert.rejects(lib.downloadVerified(`${base}/bin`, sha, other), /refusing to download over http:/);
});

test('file commands: single-line and heredoc values', (t) => {
  const files = runnerFiles(t);
  lib.appendFileCommand(files.env, 'A', 'one');
  lib.appendFileCommand(files.env, 'B', 'two\nlines');
  const text = fs.readFileSync(files.env, 'utf8');
  const m = /^A=one\nB<<(ghadelimiter_[0-9a-f-]+)\ntwo\nlines\n\1\n$/.exec(text);
  assert.ok(m, text);
  assert.throws(() => lib.appendFileCommand(undefined, 'X', 'y'), /did not provide the file for X/);
});

test('insights: the start line is parsed', () => {
  assert.deepEqual(lib.parseStarted('harden-runner: started (pid 42); block mode, run 20261127T010203Z-abcdef, state /s\n'), { mode: 'block', runId: '20261127T010203Z-abcdef' });
  assert.equal(lib.parseStarted('something else'), null);
});

test('binary: a given path wins, then build-from-source, then the pinned release', async (t) => {
  const files = runnerFiles(t);
  const bin = path.join(files.dir, 'harden-runner');
  fs.writeFileSync(bin, '#!/bin/sh\n', { mode: 0o755 });
  const never = () => { throw new Error('must not be called'); };
  const e = { RUNNER_TEMP: files.dir };

  assert.deepEqual(await lib.obtainBinary(lib.readInputs(env({ 'harden-runner-path': bin, 'build-from-source': 'true' })), e, { download: never, build: never }), [bin]);

  const built = [];
  const fromSource = await lib.obtainBinary(lib.readInputs(env({ 'build-from-source': 'true' })), e, { download: never, build: (out) => { built.push(out); return path.join(out, 'harden-runner'); } });
  assert.deepEqual(built, [path.join(files.dir, 'harden-runner-build')]);
  assert.deepEqual(fromSource, [path.join(files.dir, 'harden-runner-build', 'harden-runner')]);

  const asset = { url: 'https://example.invalid/harden-runner-linux-x64.tar.gz', sha256: 'd'.repeat(64) };
  const fetched = [];
  const unpacked = [];
  const released = await lib.obtainBinary(lib.readInputs({}), e, {
    manifest: { assets: { [lib.platformKey()]: asset } },
    build: never,
    download: async (url, sha, dest) => { fetched.push([url, sha, dest]); return dest; },
    unpack: (archive, dir) => { unpacked.push([archive, dir]); return path.join(dir, 'harden-runner'); },
  });
  const binDir = path.join(files.dir, 'harden-runner-bin');
  assert.deepEqual(fetched, [[asset.url, asset.sha256, path.join(binDir, 'harden-runner.tar.gz')]]);
  assert.deepEqual(unpacked, [[path.join(binDir, 'harden-runner.tar.gz'), binDir]]);
  assert.deepEqual(released, [path.join(binDir, 'harden-runner')]);
});

test('release archive: unpacked with tar, the executable at its top level; an archive without one is an error', (t) => {
  const files = runnerFiles(t);
  const src = path.join(files.dir, 'published');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'harden-runner'), '#!/bin/sh\necho released\n', { mode: 0o644 });
  fs.writeFileSync(path.join(src, 'libe_sqlite3.so'), 'not really a library');
  const archive = path.join(files.dir, 'release.tar.gz');
  assert.equal(spawnSync('tar', ['-czf', archive, '-C', src, 'harden-runner', 'libe_sqlite3.so']).status, 0);
  const dir = path.join(files.dir, 'bin');
  fs.mkdirSync(dir);
  const binary = lib.unpackRelease(archive, dir);
  assert.equal(binary, path.join(dir, 'harden-runner'));
  assert.ok(fs.existsSync(path.join(dir, 'libe_sqlite3.so')));
  assert.equal(spawnSync(binary, [], { encoding: 'utf8' }).stdout, 'released\n'); // made executable

  const empty = path.join(files.dir, 'empty.tar.gz');
  assert.equal(spawnSync('tar', ['-czf', empty, '-C', src, 'libe_sqlite3.so']).status, 0);
  const other = path.join(files.dir, 'other');
  fs.mkdirSync(other);
  assert.throws(() => lib.unpackRelease(empty, other), /holds no 'harden-runner'/);
  assert.throws(() => lib.unpackRelease(path.join(files.dir, 'missing.tar.gz'), other), /could not unpack/);
});

test('build from source: dotnet publish of the CLI in Release; a failed build is an error', (t) => {
  const files = runnerFiles(t);
  const calls = [];
  const out = path.join(files.dir, 'out');
  assert.equal(lib.buildFromSource(out, (argv) => { calls.push(argv); return { status: 0 }; }), path.join(out, 'harden-runner'));
  assert.deepEqual(calls, [['dotnet', 'publish', path.join(lib.ACTION_ROOT, '..', 'src', 'HardenRunner.Cli', 'HardenRunner.Cli.csproj'), '-c', 'Release', '-o', out, '--nologo']]);
  assert.ok(fs.existsSync(calls[0][2]), 'the project the action builds exists in this repository');
  assert.throws(() => lib.buildFromSource(out, () => ({ status: 1 })), /dotnet publish failed \(exit 1\)/);
});
