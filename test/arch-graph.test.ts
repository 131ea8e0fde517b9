// wgcam's own networks as graphs (graph/arch-graph.ts): the graph a block string builds
// computes what the Classifier computes, its receptive fields are the CAM's cell geometry,
// `wgcam export` writes it, and `wgcam info model.bin` lists it as it lists the exported file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { noGrad } from '../src/autograd/tape.ts';
import { cellGeometry } from '../src/cam/geometry.ts';
import { archGraph } from '../src/graph/arch-graph.ts';
import { GraphRunner } from '../src/graph/execute.ts';
import { planGraph } from '../src/graph/plan.ts';
import { buildModel, loadModelFile, saveModel } from '../src/io/model-file.ts';
import { blocksThroughConv, Classifier, type Arch } from '../src/nn/model.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import { Tensor } from '../src/tensor/tensor.ts';
import { Rng } from '../src/util/rng.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-arch-graph-'));

const ARCHS: Arch[] = [
  { blocks: 'c32-p-c64-p-c128-p-c256', inputChannels: 3, height: 64, width: 67, classes: 2 },
  { blocks: 'c8-c4-p-c3', inputChannels: 1, height: 28, width: 28, classes: 10 },
  { blocks: 'c5-p-p-c6', inputChannels: 3, height: 23, width: 19, classes: 3 },
  { blocks: 'c5', inputChannels: 3, height: 9, width: 12, classes: 3 },
];

async function modelFile(arch: Arch, seed: number): Promise<string> {
  const path = join(root, `${arch.blocks}-${seed}.bin`);
  const classes = Array.from({ length: arch.classes }, (_, j) => `class ${j}`);
  await saveModel(path, new Classifier(new CpuBackend(), arch, new Rng(seed)), { arch, classes, input: { height: arch.height, width: arch.width, channels: arch.inputChannels, resize: 'fill', scale: '1/255' } });
  return path;
}

describe('the graph of a block string', () => {
  it("gives the Classifier's logits and features on the CPU backend (1e-5 of the largest)", async () => {
    for (const [i, arch] of ARCHS.entries()) {
      const loaded = loadModelFile(await modelFile(arch, i + 1));
      const N = 2;
      const rng = new Rng(50 + i);
      const input = Float32Array.from({ length: N * arch.inputChannels * arch.height * arch.width }, () => rng.next());
      const backend = new CpuBackend();
      const { logits, features } = noGrad(() => buildModel(backend, loaded).forwardWithFeatures(Tensor.fromArray(backend, input, [N, arch.inputChannels, arch.height, arch.width])));
      const want = { logits: await logits.toArray(), features: await features.toArray() };
      const got = await new GraphRunner(backend, archGraph(loaded)).run(input, N, ['logits', 'features']);
      for (const name of ['logits', 'features'] as const) {
        const [a, b] = [got.get(name)!, want[name]];
        expect(a.length, `${arch.blocks} ${name}`).toBe(b.length);
        const scale = Math.max(1e-30, ...Array.from(b, Math.abs));
        const worst = Math.max(...Array.from(a, (v, k) => Math.abs(v - b[k])));
        expect(worst / scale, `${arch.blocks} ${name}`).toBeLessThanOrEqual(1e-5);
      }
    }
  });

  it("places each conv layer's cells where the CAM's cell geometry does", async () => {
    for (const [i, arch] of ARCHS.entries()) {
      const plan = planGraph(archGraph(loadModelFile(await modelFile(arch, i + 1))), 1);
      const convs = arch.blocks.split('-').filter((b) => b !== 'p').length;
      for (let conv = 1; conv <= convs; conv++) {
        const field = plan.fields.get(conv === convs ? 'features' : `relu${conv}`)!;
        const geometry = cellGeometry(blocksThroughConv(arch.blocks, conv));
        expect({ start: field.start, jump: field.jump }, `${arch.blocks} conv ${conv}`).toEqual({ start: geometry.offset, jump: geometry.stride });
      }
    }
  });
});

describe('wgcam info model.bin', () => {
  it('lists the graph step by step as it lists the exported ONNX file', async () => {
    const model = await modelFile(ARCHS[0], 9);
    const onnx = join(root, 'exported.onnx');
    const run = (script: string, args: string[]) => spawnSync('npm', ['run', '-s', script, '--', ...args], { encoding: 'utf8', timeout: 300_000 });
    expect(run('export', [model, onnx]).status).toBe(0);
    const [fromBin, fromOnnx] = [model, onnx].map((f) => {
      const r = run('info', [f]);
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.split('\n').slice(1); // the first line names the file
    });
    expect(fromBin).toEqual(fromOnnx);
    expect(fromBin.join('\n')).toMatch(/features\s+\[256, 4, 4\]\s+38\/8\s+CAM/);
    expect(fromBin.join('\n')).toContain("the last CAM-able output: 'features' [256, 4, 4]");
  }, 120_000);
});
