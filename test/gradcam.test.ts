// The gradient-based CAMs (wgcam cam --method, --layer): the GPU path equals the CPU path (the
// same Explainer on the kernels' references) within one u8 step and 1e-4 of the raw map's
// scale, and the identities that must hold at the last conv layer of a GAP network, where the
// gradient of a class score is fc.weight / (h*w) at every pixel:
//   Grad-CAM's raw map * h*w = CAM's raw map (same target: the contrast or the class)
//   HiResCAM = Grad-CAM;  LayerCAM = Grad-CAM where that gradient is non-negative
// (each within 1e-4 of the map's scale, float32). The command records method and layer.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Explainer, type CamMethod, type CamOptions, type Explained, type Photo } from '../src/cam/explain.ts';
import { buildModel, loadModelFile } from '../src/io/model-file.ts';
import { encodeSafetensors, readSafetensors } from '../src/io/safetensors.ts';
import { GRADIENT_METHODS, type GradientMethod } from '../src/kernels/gradcam.ts';
import { defaultMemoryLimit } from '../src/nn/machine-memory.ts';
import type { Arch } from '../src/nn/model.ts';
import type { Backend } from '../src/tensor/backend.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import { Tensor, tidy } from '../src/tensor/tensor.ts';
import { cellGeometry } from '../src/cam/geometry.ts';
import { upsampleReference } from '../src/kernels/cam.ts';
import { blocksThroughConv } from '../src/nn/model.ts';
import { softmax } from '../src/autograd/ops.ts';
import { fuseMaps, mirrored, resampleMap } from '../src/cam/fuse.ts';

/** Row 0 of the softmax of logits [1,J] on the CPU backend. */
const softmaxOf = (logits: Tensor) => softmax(logits).storage as Float64Array;
import type { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { Rng } from '../src/util/rng.ts';
import { useGpu } from './gpu-fixture.ts';
import { randomModel } from './random-model.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-gradcam-'));
const wgcamBin = join(import.meta.dirname, '..', 'bin', 'wgcam.mjs');
let gpuBackend: GpuBackend;
useGpu((_, b) => (gpuBackend = b));

const ARCH: Arch = { blocks: 'c4-p-c6-c8', inputChannels: 3, height: 20, width: 18, classes: 3 };
const METHODS = Object.keys(GRADIENT_METHODS) as GradientMethod[];
const N = 3;

function inputsFor(arch: Arch, seed: number): { inputs: Uint8Array[]; photos: Photo[] } {
  const rng = new Rng(seed);
  const inputs = Array.from({ length: N }, () => Uint8Array.from({ length: arch.width * arch.height * arch.inputChannels }, () => rng.int(256)));
  const photos = inputs.map((data) => ({ data, width: arch.width, height: arch.height }));
  return { inputs, photos };
}

async function explain(backend: Backend, modelPath: string, o: Partial<CamOptions>, seed = 1): Promise<Explained[]> {
  const loaded = loadModelFile(modelPath);
  const model = buildModel(backend, loaded);
  const { inputs, photos } = inputsFor(loaded.meta.arch, seed);
  const r = await new Explainer(backend, model, { limit: defaultMemoryLimit() }).explain(inputs, photos, { mode: 'contrast', contrast: 'runner-up', cls: -1, rawScale: 1, allClasses: false, ...o });
  model.dispose();
  return r;
}

const scaleOf = (a: Float32Array) => Math.max(1e-12, ...Array.from(a, Math.abs));
const worstDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));

describe('gradient-based CAMs', () => {
  it('the GPU equals the CPU for every method at every layer (u8 within one step, raw within 1e-4)', async () => {
    const path = await randomModel(root, ARCH, 3);
    for (const method of METHODS) {
      for (const layer of [1, 2, 3]) {
        for (const mode of ['contrast', 'class'] as const) {
          const [gpu, cpu] = [await explain(gpuBackend, path, { method, layer, mode }), await explain(new CpuBackend(), path, { method, layer, mode })];
          for (let n = 0; n < N; n++) {
            const what = `${method} layer ${layer} ${mode} image ${n}`;
            expect([gpu[n].mapWidth, gpu[n].mapHeight], what).toEqual([cpu[n].mapWidth, cpu[n].mapHeight]);
            expect(worstDiff(gpu[n].raw, cpu[n].raw) / scaleOf(cpu[n].raw), what).toBeLessThanOrEqual(1e-4);
            expect(worstDiff(gpu[n].cam, cpu[n].cam), what).toBeLessThanOrEqual(1);
            expect(worstDiff(gpu[n].probs, cpu[n].probs), what).toBeLessThanOrEqual(1e-5);
          }
        }
      }
      // Layer 1 of c4-p-...: the map before the pool, 18x16.
      const first = await explain(gpuBackend, path, { method, layer: 1 });
      expect(first[0].mapWidth).toBe(16);
      expect(first.some((r) => Math.max(...r.cam) === 255), `${method}: some map is drawn`).toBe(true);
    }
  }, 120_000);

  it('at the last layer: Grad-CAM is CAM / (h*w), HiResCAM is Grad-CAM, LayerCAM is Grad-CAM with non-negative gradients', async () => {
    const path = await randomModel(root, ARCH, 4);
    for (const mode of ['contrast', 'class'] as const) {
      const cam = await explain(gpuBackend, path, { method: 'cam', mode });
      const grad = await explain(gpuBackend, path, { method: 'gradcam', mode });
      const hires = await explain(gpuBackend, path, { method: 'hirescam', mode });
      for (let n = 0; n < N; n++) {
        const cells = cam[n].mapWidth * cam[n].mapHeight;
        const scale = scaleOf(cam[n].raw);
        expect(worstDiff(grad[n].raw.map((v) => v * cells), cam[n].raw) / scale, `${mode} ${n}`).toBeLessThanOrEqual(1e-4);
        expect(worstDiff(hires[n].raw, grad[n].raw) / scaleOf(grad[n].raw)).toBeLessThanOrEqual(1e-4);
        // Not the same map drawn twice: the maps differ from image to image.
        if (n > 0) expect(worstDiff(cam[n].raw, cam[0].raw) / scale).toBeGreaterThan(1e-2);
      }
    }
    // fc.weight >= 0: a single class's score has a non-negative gradient everywhere.
    const file = readSafetensors(path);
    const positive = join(root, 'positive-fc.bin');
    const tensors = [...file.tensors].map(([name, t]) => ({ name, shape: t.shape, data: name === 'fc.weight' ? t.data.map(Math.abs) : t.data }));
    writeFileSync(positive, encodeSafetensors(tensors, file.metadata));
    const layercam = await explain(gpuBackend, positive, { method: 'layercam', mode: 'class' });
    const gradcam = await explain(gpuBackend, positive, { method: 'gradcam', mode: 'class' });
    for (let n = 0; n < N; n++) {
      expect(worstDiff(layercam[n].raw, gradcam[n].raw) / scaleOf(layercam[n].raw)).toBeLessThanOrEqual(1e-4);
      expect(worstDiff(layercam[n].cam, gradcam[n].cam)).toBeLessThanOrEqual(1);
    }
  }, 120_000);
});

describe('Grad-CAM from scratch', () => {
  it("at an inner layer, equals mean-gradient weights from finite differences (float64) times the activations", async () => {
    const path = await randomModel(root, ARCH, 6);
    const layer = 2;
    const [r] = await explain(new CpuBackend(), path, { method: 'gradcam', layer }, 7);
    // The same image, the same activations, in float64 on the CPU references.
    const cpu = new CpuBackend({ float64: true });
    const model = buildModel(cpu, loadModelFile(path));
    for (const [, p] of model.parameters()) p.requiresGrad = false;
    const { inputs } = inputsFor(ARCH, 7);
    const { width: W, height: H } = ARCH;
    const x = Float64Array.from({ length: 3 * H * W }, (_, i) => inputs[0][(i % (H * W)) * 3 + Math.floor(i / (H * W))] / 255);
    const A = tidy(() => model.forwardTo(Tensor.fromArray(cpu, x, [1, 3, H, W]), layer));
    const a = A.storage as Float64Array;
    const logits = () => tidy(() => Float64Array.from(model.forwardFrom(A, layer).logits.storage as Float64Array));
    const z = logits();
    const order = [...z.keys()].sort((i, j) => z[j] - z[i]);
    const score = () => {
      const l = logits();
      return l[order[0]] - l[order[1]];
    };
    const [K, HW] = [A.shape[1], A.shape[2] * A.shape[3]];
    const step = 1e-5;
    const weights = Array.from({ length: K }, (_, k) => {
      let sum = 0;
      for (let p = 0; p < HW; p++) {
        const keep = a[k * HW + p];
        a[k * HW + p] = keep + step;
        const up = score();
        a[k * HW + p] = keep - step;
        sum += (up - score()) / (2 * step);
        a[k * HW + p] = keep;
      }
      return sum / HW;
    });
    const want = Array.from({ length: HW }, (_, p) => weights.reduce((s, w, k) => s + w * a[k * HW + p], 0));
    expect([r.mapWidth * r.mapHeight]).toEqual([HW]);
    expect(worstDiff(r.raw, want) / Math.max(...want.map(Math.abs))).toBeLessThanOrEqual(1e-3);
  }, 60_000);
});

describe('Score-CAM', () => {
  it("weighs each channel by the target's softmax score on the input masked by it (from scratch, float64), GPU = CPU", async () => {
    const path = await randomModel(root, ARCH, 11);
    const layer = 2;
    for (const mode of ['contrast', 'class'] as const) {
      const [gpu, cpuRun] = [await explain(gpuBackend, path, { method: 'scorecam', layer, mode }, 5), await explain(new CpuBackend(), path, { method: 'scorecam', layer, mode }, 5)];
      for (let n = 0; n < N; n++) {
        expect(worstDiff(gpu[n].raw, cpuRun[n].raw) / scaleOf(cpuRun[n].raw)).toBeLessThanOrEqual(1e-4);
        expect(worstDiff(gpu[n].cam, cpuRun[n].cam)).toBeLessThanOrEqual(1);
      }
      // From scratch for image 0: masks by the layer's geometry, plain softmax scores.
      const cpu = new CpuBackend({ float64: true });
      const model = buildModel(cpu, loadModelFile(path));
      const { inputs } = inputsFor(ARCH, 5);
      const { width: W, height: H } = ARCH;
      const x = Float64Array.from({ length: 3 * H * W }, (_, i) => inputs[0][(i % (H * W)) * 3 + Math.floor(i / (H * W))] / 255);
      const probsOf = (input: Float64Array) => tidy(() => Float64Array.from(softmaxOf(model.forward(Tensor.fromArray(cpu, input, [1, 3, H, W])))));
      const p0 = probsOf(x);
      const order = [...p0.keys()].sort((i, j) => p0[j] - p0[i]);
      const target = (p: Float64Array) => (mode === 'contrast' ? p[order[0]] - p[order[1]] : p[order[0]]);
      const A = tidy(() => Float64Array.from(model.forwardTo(Tensor.fromArray(cpu, x, [1, 3, H, W]), layer).storage as Float64Array));
      const [K, h, w] = [6, 7, 6]; // conv2 of c4-p-c6-c8 at 18x20: 6 channels, 7 rows of 6
      const geo = cellGeometry(blocksThroughConv(ARCH.blocks, layer));
      const weights = Array.from({ length: K }, (_, k) => {
        const m = A.subarray(k * h * w, (k + 1) * h * w);
        // Placed on the input, then normalized: every mask spans 0..1 exactly.
        const placed = upsampleReference(m, { h, w, outH: H, outW: W, inH: H, inW: W, offset: geo.offset, stride: geo.stride });
        const [lo, hi] = [Math.min(...placed), Math.max(...placed)];
        const M = placed.map((v) => (hi > lo ? (v - lo) / (hi - lo) : 0));
        return target(probsOf(x.map((v, i) => v * M[i % (H * W)])));
      });
      const want = Array.from({ length: h * w }, (_, p) => weights.reduce((s, wk, k) => s + wk * A[k * h * w + p], 0));
      expect(worstDiff(gpu[0].raw, want) / Math.max(...want.map(Math.abs)), mode).toBeLessThanOrEqual(1e-4);
    }
  }, 120_000);
});

describe('every method on awkward models', () => {
  it('a gray input, 1,000 classes, no pool, odd sizes: every method at every layer, GPU = CPU', async () => {
    const arch: Arch = { blocks: 'c3-c5', inputChannels: 1, height: 9, width: 7, classes: 1000 };
    const path = await randomModel(root, arch, 13);
    for (const method of [...METHODS, 'scorecam'] as const) {
      for (const layer of [1, 2]) {
        const [gpu, cpu] = [await explain(gpuBackend, path, { method, layer }), await explain(new CpuBackend(), path, { method, layer })];
        for (let n = 0; n < N; n++) {
          expect(gpu[n].raw.every(Number.isFinite), `${method} ${layer}`).toBe(true);
          expect(worstDiff(gpu[n].raw, cpu[n].raw) / scaleOf(cpu[n].raw), `${method} ${layer}`).toBeLessThanOrEqual(1e-4);
          expect(gpu[n].probs).toHaveLength(1000);
        }
      }
    }
  }, 120_000);
});

describe('test-time flips', () => {
  it("explaining the mirror image gives the mirrored map (exactly at the photo's size; on a symmetric grid too)", async () => {
    for (const [arch, exactGrid] of [[{ blocks: 'c3-c5', inputChannels: 3, height: 9, width: 11, classes: 3 }, true], [ARCH, false]] as const) {
      const path = await randomModel(root, arch, 14);
      const loaded = loadModelFile(path);
      const model = buildModel(gpuBackend, loaded);
      const { inputs, photos } = inputsFor(arch, 15);
      const mirror = (img: Uint8Array) => {
        const out = new Uint8Array(img.length);
        for (let y = 0; y < arch.height; y++) for (let x = 0; x < arch.width; x++) out.set(img.subarray((y * arch.width + x) * 3, (y * arch.width + x + 1) * 3), (y * arch.width + arch.width - 1 - x) * 3);
        return out;
      };
      const mirroredInputs = inputs.map(mirror);
      const explainer = new Explainer(gpuBackend, model, { limit: defaultMemoryLimit() });
      for (const method of ['cam', 'gradcam++'] as const) {
        const o = { method, flip: true, mode: 'contrast', contrast: 'runner-up', cls: -1, rawScale: 1, allClasses: false } as const;
        const [a, b] = [await explainer.explain(inputs, photos, o), await explainer.explain(mirroredInputs, mirroredInputs.map((data) => ({ data, width: arch.width, height: arch.height })), o)];
        for (let n = 0; n < N; n++) {
          expect(worstDiff(b[n].upsampled, mirrored(a[n].upsampled, arch.width)), `${method} photo`).toBeLessThanOrEqual(1e-6);
          const gridDiff = worstDiff(b[n].cam, mirrored(Float32Array.from(a[n].cam), a[n].mapWidth));
          if (exactGrid) expect(gridDiff, `${method} grid`).toBeLessThanOrEqual(1);
          // Without the flip the maps of an image and its mirror differ: the test can tell.
          const [plainA, plainB] = [await explainer.explain(inputs, photos, { ...o, flip: false }), await explainer.explain(mirroredInputs, photos, { ...o, flip: false })];
          expect(worstDiff(plainB[n].upsampled, mirrored(plainA[n].upsampled, arch.width))).toBeGreaterThan(1e-3);
        }
      }
      model.dispose();
    }
  }, 120_000);
});

describe('a one-class model', () => {
  it('every method draws the class\'s own map: the contrast mode equals the class mode; the command writes it', async () => {
    const arch: Arch = { blocks: 'c4-p-c6', inputChannels: 3, height: 12, width: 10, classes: 1 };
    const path = await randomModel(root, arch, 16);
    for (const method of ['cam', ...METHODS, 'scorecam'] as const) {
      const [contrast, single] = [await explain(gpuBackend, path, { method, layer: 2, mode: 'contrast' }), await explain(gpuBackend, path, { method, layer: 2, mode: 'class' })];
      for (let n = 0; n < N; n++) {
        expect(contrast[n].probs).toEqual(Float32Array.from([1]));
        expect(contrast[n].raw.every(Number.isFinite), method).toBe(true);
        expect(worstDiff(contrast[n].raw, single[n].raw), method).toBeLessThanOrEqual(1e-6);
      }
    }
    const photo = join(root, 'one.png');
    const { inputs } = inputsFor(arch, 3);
    const sharp = (await import('sharp')).default;
    await sharp(inputs[0], { raw: { width: arch.width, height: arch.height, channels: 3 } }).png().toFile(photo);
    const out = join(root, 'one-class');
    const r = spawnSync(process.execPath, [wgcamBin, 'cam', path, photo, '--json', '--out', out], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(out, 'one.json'), 'utf8'));
    expect([json.predictions.length, json.map.class, json.map.contrast]).toEqual([1, 'class 0', null]);
  }, 60_000);
});

describe('fused layers', () => {
  it('resamples a map by receptive-field geometry and fuses by max, mean or product', () => {
    const grid = { h: 2, w: 3, offset: 0.5, stride: 2 };
    const map = Float32Array.from([0, 1, 2, 3, 4, 5]);
    expect(Array.from(resampleMap(map, grid, grid))).toEqual(Array.from(map));
    // A finer grid (stride 1, offset 0.5): its cells at input 0.5, 1.5, 2.5, ... lie at the coarse grid's 0, 0.5, 1, ...
    const fine = resampleMap(map, grid, { h: 3, w: 5, offset: 0.5, stride: 1 });
    expect(Array.from(fine.subarray(0, 5))).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(Array.from(fine.subarray(10, 15))).toEqual([3, 3.5, 4, 4.5, 5]); // clamped to the last row
    const [a, b] = [Float32Array.from([0, 0.5, 1]), Float32Array.from([1, 0.5, 0.5])];
    expect(Array.from(fuseMaps([a, b], 'max'))).toEqual([1, 0.5, 1]);
    expect(Array.from(fuseMaps([a, b], 'mean'))).toEqual(Array.from(Float32Array.from([0.5 / 0.75, 0.5 / 0.75, 1])));
    expect(Array.from(fuseMaps([a, b], 'product'))).toEqual([0, 0.5, 1]);
    expect(Array.from(fuseMaps([new Float32Array(3)], 'max'))).toEqual([0, 0, 0]);
  });

  it("equals each layer's map, normalized and resampled to the finest grid, fused", async () => {
    const path = await randomModel(root, ARCH, 12);
    for (const fuse of ['max', 'mean', 'product'] as const) {
      const fused = await explain(gpuBackend, path, { method: 'gradcam++', layers: [1, 2], fuse });
      const [l1, l2] = [await explain(gpuBackend, path, { method: 'gradcam++', layer: 1 }), await explain(gpuBackend, path, { method: 'gradcam++', layer: 2 })];
      const g1 = { ...cellGeometry(blocksThroughConv(ARCH.blocks, 1)), h: l1[0].mapHeight, w: l1[0].mapWidth };
      const g2 = { ...cellGeometry(blocksThroughConv(ARCH.blocks, 2)), h: l2[0].mapHeight, w: l2[0].mapWidth };
      const norm = (raw: Float32Array) => {
        const top = Math.max(0, ...raw);
        return raw.map((v) => (top > 0 ? Math.max(0, v) / top : 0));
      };
      for (let n = 0; n < N; n++) {
        const want = fuseMaps([norm(l1[n].raw), resampleMap(norm(l2[n].raw), g2, g1)], fuse);
        expect([fused[n].mapWidth, fused[n].mapHeight]).toEqual([g1.w, g1.h]);
        expect(worstDiff(fused[n].raw, want), fuse).toBeLessThanOrEqual(1e-6);
        expect(Math.max(...fused[n].raw)).toBeCloseTo(1, 6);
      }
    }
  }, 60_000);
});

describe('wgcam cam --method --layer', () => {
  const wgcam = (args: string[]) => {
    const r = spawnSync(process.execPath, [wgcamBin, 'cam', ...args], { encoding: 'utf8', timeout: 120_000 });
    return { code: r.status, err: r.stderr.trim() };
  };

  it('records the method and layer; refuses what does not fit in one line', async () => {
    const path = await randomModel(root, ARCH, 5);
    const photo = join(root, 'photo.png');
    const { inputs } = inputsFor(ARCH, 9);
    const sharp = (await import('sharp')).default;
    await sharp(inputs[0], { raw: { width: ARCH.width, height: ARCH.height, channels: 3 } }).png().toFile(photo);
    const methods: CamMethod[] = ['cam', ...METHODS, 'scorecam'];
    for (const method of methods) {
      const out = join(root, `out-${method}`);
      const layer = method === 'cam' ? [] : ['--layer', 'conv2'];
      const r = wgcam([path, photo, '--method', method, ...layer, '--json', '--out', out]);
      expect(r.code, r.err).toBe(0);
      const json = JSON.parse(readFileSync(join(out, 'photo.json'), 'utf8'));
      expect(json.map.method).toBe(method);
      expect(json.map.layer).toBe(method === 'cam' ? 3 : 2);
      // conv2 of c4-p-c6-c8 at 18x20: 16x18 -> pooled 8x9 -> 6x7.
      expect([json.raw_map.width, json.raw_map.height]).toEqual(method === 'cam' ? [4, 5] : [6, 7]);
    }
    const fusedOut = join(root, 'fused');
    expect(wgcam([path, photo, '--method', 'scorecam', '--layer', '3,conv1', '--fuse', 'mean', '--json', '--out', fusedOut]).code).toBe(0);
    const fusedJson = JSON.parse(readFileSync(join(fusedOut, 'photo.json'), 'utf8'));
    expect([fusedJson.map.layer, fusedJson.map.fuse, fusedJson.raw_map.width]).toEqual([[1, 3], 'mean', 16]);
    expect(wgcam([path, photo, '--layer', '1', '--out', join(root, 'x')])).toMatchObject({ code: 1, err: expect.stringMatching(/--layer 1: the cam method reads the last conv layer \(3\)/) });
    expect(wgcam([path, photo, '--method', 'gradcam', '--layer', '4', '--out', join(root, 'x')])).toMatchObject({ code: 1, err: expect.stringMatching(/--layer 4: .* has conv layers 1\.\.3$/) });
    expect(wgcam([path, photo, '--method', 'gradcam', '--mode', 'raw'])).toMatchObject({ code: 2 });
    expect(wgcam([path, photo, '--method', 'smoothcam'])).toMatchObject({ code: 2, err: expect.stringMatching(/--method smoothcam: use cam, gradcam.*scorecam/) });
    expect(wgcam([path, photo, '--method', 'gradcam', '--layer', 'x2'])).toMatchObject({ code: 2 });
  }, 120_000);
});
