'use strict';
// The GitHub Action's logic, kept small and free of dependencies: inputs, the harden-runner binary (pinned
// release verified by SHA-256, a local path, or a build from source), the command lines, and the runner's
// file commands (GITHUB_STATE, GITHUB_ENV). main.js and post.js are thin wrappers; test/ exercises this file.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const https = require('node:https');
const { spawnSync } = require('node:child_process');

const ACTION_ROOT = path.resolve(__dirname, '..');
const DEFAULT_POLICY = '.harden/policy.yml';
const DEFAULT_STATE_DIR = '/var/lib/harden-runner';
const STOP_TOKEN_VARIABLE = 'HARDEN_RUNNER_STOP_TOKEN';

class InputError extends Error {}

/** An input as the runner passes it: INPUT_<NAME> with spaces as underscores, upper case (hyphens stay). */
function getInput(env, name, fallback = '') {
  const value = env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`];
  return value === undefined ? fallback : value.trim();
}

function parseBoolean(name, value) {
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  throw new InputError(`input '${name}' must be true or false, not '${value}'`);
}

/** Every input, validated; throws InputError with the input's name. */
function readInputs(env) {
  const egress = getInput(env, 'egress-policy').toLowerCase();
  if (!['', 'audit', 'block'].includes(egress)) {
    throw new InputError(`input 'egress-policy' must be audit or block, not '${getInput(env, 'egress-policy')}'`);
  }
  const stateDir = getInput(env, 'state-dir', DEFAULT_STATE_DIR) || DEFAULT_STATE_DIR;
  if (!path.isAbsolute(stateDir)) throw new InputError(`input 'state-dir' must be an absolute path, not '${stateDir}'`);
  return {
    egressPolicy: egress,
    // the same strings step-security/harden-runner accepts, separated by any whitespace (YAML '>' or '|')
    allowedEndpoints: getInput(env, 'allowed-endpoints').split(/\s+/).filter(Boolean).join(' '),
    disableSudo: parseBoolean('disable-sudo', getInput(env, 'disable-sudo')),
    disableSudoAndContainers: parseBoolean('disable-sudo-and-containers', getInput(env, 'disable-sudo-and-containers')),
    disableFileMonitoring: parseBoolean('disable-file-monitoring', getInput(env, 'disable-file-monitoring')),
    policy: getInput(env, 'policy', DEFAULT_POLICY) || DEFAULT_POLICY,
    policyIsDefault: (getInput(env, 'policy', DEFAULT_POLICY) || DEFAULT_POLICY) === DEFAULT_POLICY,
    binaryPath: getInput(env, 'harden-runner-path') || (env.HARDEN_RUNNER_BIN || '').trim(),
    buildFromSource: parseBoolean('build-from-source', getInput(env, 'build-from-source')),
    stateDir,
  };
}

/** The policy file to pass, or null (the default path is optional, any other must exist). */
function resolvePolicy(inputs, env) {
  const base = env.GITHUB_WORKSPACE || process.cwd();
  const full = path.resolve(base, inputs.policy);
  if (fs.existsSync(full)) return full;
  if (inputs.policyIsDefault) return null;
  throw new InputError(`input 'policy': ${full} does not exist`);
}

/** The arguments of 'harden-runner start'. */
function startArgs(inputs, policyPath, runnerUser, workspace) {
  const args = ['start', '--state-dir', inputs.stateDir];
  if (policyPath) args.push('--policy', policyPath);
  if (inputs.egressPolicy) args.push('--egress-policy', inputs.egressPolicy);
  if (inputs.allowedEndpoints) args.push('--allowed-endpoints', inputs.allowedEndpoints);
  if (inputs.disableSudoAndContainers) args.push('--disable-sudo-and-containers');
  else if (inputs.disableSudo) args.push('--disable-sudo');
  if (inputs.disableFileMonitoring) args.push('--disable-file-monitoring');
  if ((inputs.disableSudo || inputs.disableSudoAndContainers) && runnerUser) args.push('--runner-user', runnerUser);
  if (workspace) args.push('--workspace', workspace);
  return args;
}

/** How to run a binary: a .dll runs under 'dotnet'. */
function commandFor(binary) {
  return binary.endsWith('.dll') ? ['dotnet', binary] : [binary];
}

/** Root runs the command as it is; anyone else through 'sudo -n -E' (GitHub-hosted runners have password-less sudo). */
function privileged(argv, uid = process.getuid()) {
  return uid === 0 ? argv : ['sudo', '-n', '-E', ...argv];
}

function platformKey(platform = process.platform, arch = process.arch) {
  return `${platform}-${arch}`;
}

/** The pinned asset for this platform from release.json, validated (https URL, 64-hex SHA-256). */
function releaseAsset(manifest, key) {
  const asset = manifest && manifest.assets && manifest.assets[key];
  if (!asset) {
    throw new InputError(`no pinned harden-runner release for ${key} in release.json; set 'harden-runner-path' to a binary on the runner, or 'build-from-source: true' (needs the .NET 10 SDK)`);
  }
  if (typeof asset.url !== 'string' || !asset.url.startsWith('https://')) throw new InputError(`release.json: the ${key} URL must be https`);
  if (typeof asset.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(asset.sha256)) throw new InputError(`release.json: the ${key} sha256 must be 64 lower-case hex digits`);
  return asset;
}

/**
 * Downloads url to dest and checks its SHA-256 before the file is made executable; a mismatch deletes the file
 * and throws. Redirects are followed (at most 5), never from https to http. allowHttp (tests only) permits
 * plain http to a loopback address.
 */
function downloadVerified(url, sha256, dest, { allowHttp = false, timeoutMs = 120000 } = {}) {
  return new Promise((resolve, reject) => {
    const fetch = (current, redirects) => {
      const u = new URL(current);
      const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
      if (u.protocol !== 'https:' && !(allowHttp && u.protocol === 'http:' && loopback)) {
        reject(new Error(`refusing to download over ${u.protocol} (${current})`));
        return;
      }
      const client = u.protocol === 'https:' ? https : http;
      const req = client.get(u, { timeout: timeoutMs }, (res) => {
        if ([301, 302, 303, 307, 308].includes(res.statusCode) && res.headers.location) {
          res.resume();
          if (redirects >= 5) { reject(new Error('too many redirects')); return; }
          const next = new URL(res.headers.location, u);
          if (u.protocol === 'https:' && next.protocol !== 'https:') { reject(new Error(`refusing a redirect from https to ${next.protocol}`)); return; }
          fetch(next.toString(), redirects + 1);
          return;
        }
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`download of ${current} failed: HTTP ${res.statusCode}`));
          return;
        }
        const hash = crypto.createHash('sha256');
        const tmp = `${dest}.partial`;
        const out = fs.createWriteStream(tmp, { mode: 0o600 });
        res.on('data', (chunk) => hash.update(chunk));
        res.pipe(out);
        out.on('error', reject);
        out.on('finish', () => {
          const actual = hash.digest('hex');
          if (actual !== sha256) {
            fs.rmSync(tmp, { force: true });
            reject(new Error(`SHA-256 mismatch for ${current}: expected ${sha256}, got ${actual}; the file was deleted`));
            return;
          }
          fs.renameSync(tmp, dest);
          fs.chmodSync(dest, 0o755);
          resolve(dest);
        });
      });
      req.on('timeout', () => req.destroy(new Error(`download of ${current} timed out`)));
      req.on('error', reject);
    };
    fetch(url, 0);
  });
}

/** 'dotnet publish' of the CLI from the source tree this action lives in. */
function buildFromSource(outDir, run = runCommand) {
  const project = path.join(ACTION_ROOT, '..', 'src', 'HardenRunner.Cli', 'HardenRunner.Cli.csproj');
  if (!fs.existsSync(project)) throw new InputError(`build-from-source: ${project} is missing (the action must be used from the HardenRunner repository)`);
  const result = run(['dotnet', 'publish', project, '-c', 'Release', '-o', outDir, '--nologo'], {});
  if (result.status !== 0) throw new Error(`build-from-source: dotnet publish failed (exit ${result.status})`);
  return path.join(outDir, 'harden-runner');
}

/**
 * Unpacks a verified release archive (a .tar.gz of the published directory: the Native AOT executable
 * 'harden-runner' and the libe_sqlite3.so it loads from beside itself) into dir; returns the executable's path.
 */
function unpackRelease(archive, dir, run = runCommand) {
  const result = run(['tar', '-xzf', archive, '-C', dir, '--no-same-owner', '--no-same-permissions'], {});
  if (result.status !== 0) throw new Error(`release: could not unpack ${archive} (tar exit ${result.status})`);
  const binary = path.join(dir, 'harden-runner');
  if (!fs.existsSync(binary)) throw new Error(`release: ${path.basename(archive)} holds no 'harden-runner' at its top level`);
  fs.chmodSync(binary, 0o755);
  return binary;
}

/** The argv prefix that runs harden-runner: a given path, a build from source, or the pinned release. */
async function obtainBinary(inputs, env, { manifest, download = downloadVerified, build = buildFromSource, unpack = unpackRelease } = {}) {
  if (inputs.binaryPath) {
    const p = path.resolve(inputs.binaryPath);
    if (!fs.existsSync(p)) throw new InputError(`harden-runner-path: ${p} does not exist`);
    return commandFor(p);
  }
  const temp = env.RUNNER_TEMP || require('node:os').tmpdir();
  if (inputs.buildFromSource) {
    return commandFor(build(path.join(temp, 'harden-runner-build')));
  }
  const m = manifest || JSON.parse(fs.readFileSync(path.join(ACTION_ROOT, 'release.json'), 'utf8'));
  const asset = releaseAsset(m, platformKey());
  const dir = path.join(temp, 'harden-runner-bin');
  fs.mkdirSync(dir, { recursive: true });
  return commandFor(unpack(await download(asset.url, asset.sha256, path.join(dir, 'harden-runner.tar.gz')), dir));
}

/** Appends NAME=value to a runner file command (GITHUB_STATE, GITHUB_ENV), with a heredoc for multi-line values. */
function appendFileCommand(file, name, value) {
  if (!file) throw new Error(`the runner did not provide the file for ${name}`);
  const v = String(value);
  if (!v.includes('\n')) {
    fs.appendFileSync(file, `${name}=${v}\n`);
    return;
  }
  const delimiter = `ghadelimiter_${crypto.randomUUID()}`;
  fs.appendFileSync(file, `${name}<<${delimiter}\n${v}\n${delimiter}\n`);
}

/** Runs a command; its output goes to the job log and is returned. */
function runCommand(argv, env) {
  const result = spawnSync(argv[0], argv.slice(1), { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (result.stdout) process.stdout.write(result.stdout);
  if (result.stderr) process.stderr.write(result.stderr);
  if (result.error) return { status: 127, stdout: '', stderr: String(result.error.message) };
  return { status: result.status === null ? 1 : result.status, stdout: result.stdout || '', stderr: result.stderr || '' };
}

/** A workflow command annotation; message text is escaped as the runner expects. */
function annotate(level, message) {
  const escaped = String(message).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  process.stdout.write(`::${level}::${escaped}\n`);
}

/** "harden-runner: started (pid N); block mode, run ID, state DIR" → { mode, runId }. */
function parseStarted(stdout) {
  const m = /started \(pid \d+\); (audit|block) mode, run (\S+), state/.exec(stdout);
  return m ? { mode: m[1], runId: m[2].replace(/,$/, '') } : null;
}

module.exports = {
  ACTION_ROOT, DEFAULT_POLICY, DEFAULT_STATE_DIR, STOP_TOKEN_VARIABLE, InputError,
  getInput, parseBoolean, readInputs, resolvePolicy, startArgs, commandFor, privileged, platformKey, releaseAsset,
  downloadVerified, buildFromSource, unpackRelease, obtainBinary, appendFileCommand, runCommand, annotate, parseStarted,
};
