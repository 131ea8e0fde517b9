// Signals as users send them, through `npm run train` itself (npm -> sh -> node): Ctrl-C to the
// terminal's process group, SIGINT/SIGTERM to npm alone, npm killed outright, and a stop while
// the images are still being prepared. Each must end with the trainer saving (or, during
// preparation, cleaning up) and exiting; no trainer may outlive npm.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';
import { loadModelFile } from '../src/io/model-file.ts';
import { LOCK_NAME } from '../src/io/run-lock.ts';
import { pidAlive } from '../src/util/process-info.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-signals-'));
const data = join(root, 'data');
const bigData = join(root, 'big');
// Batch 2 and many epochs: the run is inside an epoch whenever the signal lands.
const tiny = ['--data', data, '--size', '16', '--arch', 'c4-p-c8', '--batch', '2', '--seed', '3', '--epochs', '500'];

beforeAll(async () => {
  await writeSamplePhotos({ dir: data, shapes: ['disc', 'cross'], perClass: 24, seed: 5, minSize: 20, maxSize: 30 });
  // Enough photos that decoding them at 96x96 lasts a few seconds on 2 cores.
  await writeSamplePhotos({ dir: bigData, shapes: ['disc', 'cross'], perClass: 600, seed: 6, minSize: 200, maxSize: 400 });
}, 300_000);

interface Run {
  npm: ChildProcess;
  out: string[];
  err: string[];
  exit: Promise<number | null>;
}

/** `npm run train -- ARGS` in a process group of its own (as a terminal's foreground job is). */
function npmTrain(args: string[]): Run {
  const npm = spawn('npm', ['run', '-s', 'train', '--', ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = { npm, out: [], err: [], exit: new Promise((resolve) => npm.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)))) };
  npm.stdout!.on('data', (d) => run.out.push(String(d)));
  npm.stderr!.on('data', (d) => run.err.push(String(d)));
  return run;
}

async function until(what: string, ok: () => boolean, ms = 120_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The trainer's PID, from the run lock it holds on --out. */
function trainerPid(out: string): number {
  return JSON.parse(readFileSync(join(out, LOCK_NAME), 'utf8')).pid;
}

async function startedTraining(out: string): Promise<{ run: Run; pid: number }> {
  const run = npmTrain([...tiny, '--out', out]);
  await until('training to start', () => run.out.join('').includes('model: '));
  return { run, pid: trainerPid(out) };
}

/** The trainer saved where it stopped (inside an epoch: interrupted.bin; at its end: the epoch's checkpoint) and exited. */
async function expectSavedAndGone(run: Run, pid: number, out: string): Promise<void> {
  await until('the trainer to exit', () => !pidAlive(pid), 60_000);
  const stdout = run.out.join('');
  const inside = /: saved .*interrupted\.bin \(epoch (\d+), step (\d+)\); continue with --resume/.exec(stdout);
  const atEnd = / after epoch (\d+); continue with --resume/.exec(stdout);
  expect(inside ?? atEnd, stdout).not.toBeNull();
  if (inside) {
    const t = loadModelFile(join(out, 'interrupted.bin')).meta.training!;
    expect([t.epoch + 1, t.step]).toEqual([Number(inside[1]), Number(inside[2])]);
  } else {
    const t = loadModelFile(join(out, `epoch-${atEnd![1].padStart(3, '0')}.bin`)).meta.training!;
    expect([t.epoch, t.step]).toEqual([Number(atEnd![1]), 0]);
  }
  expect(existsSync(join(out, 'model.bin'))).toBe(false);
  expect(existsSync(join(out, LOCK_NAME))).toBe(false);
  expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
}

describe('npm run train and signals', () => {
  it('Ctrl-C (SIGINT to the process group: npm relays a second copy) finishes the step and saves', async () => {
    const out = join(root, 'group-int');
    const { run, pid } = await startedTraining(out);
    process.kill(-run.npm.pid!, 'SIGINT');
    expect(await run.exit).not.toBe(0);
    await expectSavedAndGone(run, pid, out);
    expect(run.out.join('')).toMatch(/interrupted \(SIGINT\): finishing the current step and saving/);
    // One keypress, two copies: it must not have counted as "Ctrl-C again".
    expect(run.out.join('').match(/finishing the current step/g)).toHaveLength(1);
  });

  it('SIGTERM to npm alone reaches the trainer, which saves', async () => {
    const out = join(root, 'npm-term');
    const { run, pid } = await startedTraining(out);
    process.kill(run.npm.pid!, 'SIGTERM');
    await run.exit;
    await expectSavedAndGone(run, pid, out);
    expect(run.out.join('')).toMatch(/interrupted \(SIGTERM\)/);
  });

  it('SIGINT to npm alone reaches the trainer, which saves', async () => {
    const out = join(root, 'npm-int');
    const { run, pid } = await startedTraining(out);
    process.kill(run.npm.pid!, 'SIGINT');
    await run.exit;
    await expectSavedAndGone(run, pid, out);
  });

  it('npm killed outright (SIGKILL): the orphaned trainer saves and exits instead of training on', async () => {
    const out = join(root, 'npm-kill');
    const { run, pid } = await startedTraining(out);
    process.kill(run.npm.pid!, 'SIGKILL');
    await run.exit;
    await expectSavedAndGone(run, pid, out);
    expect(run.out.join('')).toMatch(/the parent process exited(: saved| after epoch)/);
    // Nothing keeps writing: the folder is unchanged a while later.
    const before = readdirSync(out).sort();
    await new Promise((r) => setTimeout(r, 1500));
    expect(readdirSync(out).sort()).toEqual(before);
  });

  it('a second signal a moment later quits at once; copies within a second count as one', async () => {
    // A child that asks to stop and then stays busy, as a long training step does.
    const script = `
      import { catchStops } from './src/util/stop.ts';
      const { stop } = catchStops((r) => console.log('stop requested: ' + r));
      console.log('ready');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout!.on('data', (d) => (stdout += d));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await until('the child to start', () => stdout.includes('ready'));
    child.kill('SIGINT');
    child.kill('SIGINT'); // the relayed copy
    await new Promise((r) => setTimeout(r, 300));
    expect(child.exitCode).toBeNull();
    expect(stdout.match(/stop requested: SIGINT/g)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1000));
    child.kill('SIGTERM');
    expect(await exit).toBe(143);
  });

  it('SIGTERM while the images are being prepared: exit 143, no cache temporary left; the next run builds the cache', async () => {
    const out = join(root, 'prep');
    const cache = join(root, 'prep-cache');
    const args = ['--data', bigData, '--size', '96', '--arch', 'c4-p-c8', '--epochs', '1', '--out', out, '--cache', cache];
    const run = npmTrain(args);
    await until('preparation to start', () => existsSync(cache) && readdirSync(cache).some((f) => f.endsWith('.tmp')));
    const pid = trainerPid(out);
    process.kill(-run.npm.pid!, 'SIGTERM');
    await run.exit;
    await until('the trainer to exit', () => !pidAlive(pid), 30_000);
    expect(run.err.join('')).toMatch(/wgcam: interrupted \(SIGTERM\) while preparing images; nothing was saved/);
    expect(readdirSync(cache)).toEqual([]);
    expect(existsSync(join(out, LOCK_NAME))).toBe(false);
    const r = spawnSync('npm', ['run', '-s', 'train', '--', ...args], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/cache built/);
  });

  it('cleans only its own temporaries: those of dead wgcam processes go, a user\'s .notes.tmp stays', async () => {
    const out = join(root, 'temps');
    mkdirSync(out);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    const ours = `.model.bin.wgcam-${deadPid}-abc123.tmp`;
    writeFileSync(join(out, ours), 'half a checkpoint');
    writeFileSync(join(out, '.notes.tmp'), 'mine');
    writeFileSync(join(out, '.x.wgcam-' + process.pid + '-zz.tmp'), 'a live process of ours (this test) owns it');
    const r = spawnSync('npm', ['run', '-s', 'train', '--', ...tiny.slice(0, -1), '2', '--out', out], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/removed 1 temporary file left in .* by an interrupted run/);
    const left = readdirSync(out);
    expect(left).not.toContain(ours);
    expect(left).toContain('.notes.tmp');
    expect(left).toContain('.x.wgcam-' + process.pid + '-zz.tmp');
  });
});
