// wgcam as a library, as another project gets it: `npm pack`, install the tarball into a
// fresh project, import it by name from plain JavaScript (no TypeScript loader) and explain an
// image; and type-check a TypeScript program against the published declarations.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';

const repo = resolve('.');
const root = mkdtempSync(join(tmpdir(), 'wgcam-library-'));
const project = join(root, 'consumer');
const data = join(root, 'data');
const model = join(root, 'run', 'model.bin');
const photo = join(data, 'train', 'disc.0.jpg');

beforeAll(async () => {
  await writeSamplePhotos({ dir: data, shapes: ['disc', 'cross'], perClass: 12, seed: 4, minSize: 20, maxSize: 30 });
  const trained = spawnSync(process.execPath, [join(repo, 'bin', 'wgcam.mjs'), 'train', '--data', data, '--size', '16', '--arch', 'c4-p-c8', '--epochs', '1', '--out', join(root, 'run')], { encoding: 'utf8' });
  expect(trained.status, trained.stderr).toBe(0);
  execFileSync('npm', ['pack', '--silent', '--pack-destination', root], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
  const tarball = readdirSync(root).find((f) => f.endsWith('.tgz'))!;
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', join(root, tarball)], { cwd: project, stdio: ['ignore', 'ignore', 'inherit'] });
}, 600_000);

describe('import { loadModel, explain } from "wgcam"', () => {
  it('explains an image from plain JavaScript', () => {
    writeFileSync(
      join(project, 'explain.mjs'),
      `import { loadModel, explain, predict, toOnnx } from 'wgcam';
const model = loadModel(${JSON.stringify(model)});
const onnx = toOnnx(model);
const [r] = await explain(model, [${JSON.stringify(photo)}]);
const [p] = await predict(${JSON.stringify(model)}, [${JSON.stringify(photo)}]);
console.log(JSON.stringify({ classes: model.meta.classes, top: r.predictions[0], map: [r.mapWidth, r.mapHeight, r.map.length], png: r.overlayPng.subarray(1, 4).toString(), same: p.predictions[0].class === r.predictions[0].class, onnx: [onnx.length > 1000, Buffer.from(onnx).includes('probabilities')] }));
`,
    );
    const r = spawnSync(process.execPath, ['explain.mjs'], { cwd: project, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out.classes).toEqual(['cross', 'disc']);
    expect(['cross', 'disc']).toContain(out.top.class);
    expect(out.top.probability).toBeGreaterThan(0.5);
    expect(out.map).toEqual([5, 5, 25]); // c4-p-c8 at 16x16: 14, pooled 7, then 5
    expect(out.png).toBe('PNG');
    expect(out.same).toBe(true);
    expect(out.onnx).toEqual([true, true]);
  });

  it('ships declarations a TypeScript program checks against', () => {
    writeFileSync(
      join(project, 'use.ts'),
      `import { explain, train, type Explanation, type TrainOptions } from 'wgcam';
const options: TrainOptions = { data: './photos', out: './run', epochs: 2, resume: false };
export async function run(): Promise<number> {
  await train(options);
  const r: Explanation[] = await explain('./run/model.bin', ['cat.jpg']);
  // @ts-expect-error: the declarations say mapWidth is a number (this line fails if they were missing)
  const wrong: string = r[0].mapWidth;
  return r[0].predictions[0].probability + wrong.length;
}
`,
    );
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['use.ts'] }));
    const tsc = spawnSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });
});
