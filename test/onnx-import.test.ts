// ONNX import: every classic architecture (test/onnx-graphs.ts, random weights, small sizes) run
// by wgcam's graph engine on the GPU and on the CPU references gives ONNX Runtime's outputs
// (onnxruntime-node, CPU provider) within 1e-4 of the output's largest magnitude; hostile and
// unsupported files are one line naming the file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { chooseGraphConvs } from '../src/graph/conv-choices.ts';
import { GraphRunner } from '../src/graph/execute.ts';
import { planGraph } from '../src/graph/plan.ts';
import { conv2dForward } from '../src/kernels/conv2d.ts';
import { paddedInnerShape } from '../src/kernels/conv-general.ts';
import { isSupported } from '../src/kernels/kernel.ts';
import { ConvChoiceCache } from '../src/nn/conv-choice-cache.ts';
import { loadOnnxFile } from '../src/graph/imported-files.ts';
import { decodeOnnx } from '../src/graph/onnx-import.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import type { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { Rng } from '../src/util/rng.ts';
import { useGpu } from './gpu-fixture.ts';
import { ARCHITECTURES, OnnxBuilder, opsetTour } from './onnx-graphs.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-onnx-import-'));
let gpuBackend: GpuBackend;
useGpu((_, b) => (gpuBackend = b));

const TOLERANCE = 1e-4;
const worst = (got: Float32Array, want: Float32Array) => {
  let [diff, scale] = [0, 1e-6];
  for (let i = 0; i < want.length; i++) [diff, scale] = [Math.max(diff, Math.abs(got[i] - want[i])), Math.max(scale, Math.abs(want[i]))];
  return diff / scale;
};

describe('the ONNX codec', () => {
  it('is the static code npm run gen:onnx makes from onnx.proto (regenerated after every change to the schema)', () => {
    const fresh = join(mkdtempSync(join(tmpdir(), 'wgcam-onnx-pb-')), 'onnx-pb.js');
    const r = spawnSync('npx', ['pbjs', '-t', 'static-module', '-w', 'es6', '--keep-case', '--no-delimited', '--no-comments', '-o', fresh, 'src/export/onnx.proto'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const script = JSON.parse(readFileSync('package.json', 'utf8')).scripts['gen:onnx'] as string;
    expect(script).toBe('pbjs -t static-module -w es6 --keep-case --no-delimited --no-comments -o src/export/onnx-pb.js src/export/onnx.proto');
    expect(readFileSync(fresh, 'utf8')).toBe(readFileSync('src/export/onnx-pb.js', 'utf8'));
  }, 120_000);
});

describe('imported architectures give ONNX Runtime outputs', () => {
  for (const arch of ARCHITECTURES) {
    it(arch.name, async () => {
      const path = join(root, `${arch.name.replace(/\W+/g, '_')}.onnx`);
      writeFileSync(path, arch.build());
      const graph = loadOnnxFile(path);
      const batch = typeof arch.input[0] === 'number' ? arch.input[0] : 3;
      const dims = [batch, ...(arch.input.slice(1) as number[])];
      const count = dims.reduce((a, b) => a * b, 1);
      const rng = new Rng(11);
      const nhwc = dims[3] === 3;
      const input = Float32Array.from({ length: count }, () => (nhwc ? rng.next() * 255 : rng.next() * 2 - 1));
      const session = await ort.InferenceSession.create(path);
      const want = (await session.run({ [graph.inputs[0].name]: new ort.Tensor('float32', input, dims) }))[graph.outputs[0]].data as Float32Array;
      for (const backend of [gpuBackend, new CpuBackend()]) {
        const runner = new GraphRunner(backend, graph);
        const got = (await runner.run(input, batch)).get(graph.outputs[0])!;
        runner.dispose();
        expect(got.length).toBe(want.length);
        expect(worst(got, want), `${backend.kind}`).toBeLessThanOrEqual(TOLERANCE);
      }
    });
  }
});

describe("the padded 3x3 convolutions' inner kernel", () => {
  it('each of the 3x3 kernels (Winograd included) gives ONNX Runtime outputs; the measured choice is remembered per adapter, shape and batch', async () => {
    const arch = ARCHITECTURES.find((a) => a.name.startsWith('ResNet-18'))!;
    const path = join(root, 'inner-resnet18.onnx');
    writeFileSync(path, arch.build());
    const graph = loadOnnxFile(path);
    const rng = new Rng(21);
    const input = Float32Array.from({ length: 3 * 3 * 32 * 32 }, () => rng.next() * 2 - 1);
    const session = await ort.InferenceSession.create(path);
    const want = (await session.run({ input: new ort.Tensor('float32', input, [3, 3, 32, 32]) }))[graph.outputs[0]].data as Float32Array;
    await session.release();
    const gpu = gpuBackend.gpu;
    const inner = planGraph(graph, 3).steps.filter((st) => st.conv && paddedInnerShape(gpu, st.conv));
    expect(inner.length).toBeGreaterThanOrEqual(3); // the stride-1 3x3 convolutions (with subgroups, strided ones run im2col-subgroup)
    for (const variant of conv2dForward.variants.filter((v) => isSupported(v, gpu)).map((v) => v.name)) {
      const runner = new GraphRunner(gpuBackend, graph, { innerConv: () => variant });
      const got = (await runner.run(input, 3)).get(graph.outputs[0])!;
      runner.dispose();
      expect(worst(got, want), variant).toBeLessThanOrEqual(TOLERANCE);
    }
    const cache = new ConvChoiceCache(join(root, 'choices.json'));
    const first = await chooseGraphConvs(gpu, graph, 3, { cache });
    expect(first.timed).toBeGreaterThan(0);
    const again = await chooseGraphConvs(gpu, graph, 3, { cache: new ConvChoiceCache(join(root, 'choices.json')) });
    expect(again.timed).toBe(0);
    for (const st of inner) expect(again.innerConv(st.conv!)).toBe(first.innerConv(st.conv!));
    expect((await chooseGraphConvs(gpu, graph, 2, { cache })).timed).toBeGreaterThan(0); // another batch is timed anew
  }, 120_000);
});

describe('every opset from 7 to 21', () => {
  it('runs the ops whose form changes between opsets, as ONNX Runtime does, in each form (GPU and CPU)', async () => {
    for (const opset of [7, 9, 10, 11, 12, 13, 14, 17, 18, 21]) {
      const path = join(root, `opsets-${opset}.onnx`);
      writeFileSync(path, opsetTour(opset));
      const graph = loadOnnxFile(path);
      expect(graph.opset).toBe(opset);
      const rng = new Rng(opset);
      const input = Float32Array.from({ length: 2 * 3 * 16 * 16 }, () => rng.next() * 2 - 1);
      const session = await ort.InferenceSession.create(path);
      const want = (await session.run({ input: new ort.Tensor('float32', input, [2, 3, 16, 16]) }))[graph.outputs[0]].data as Float32Array;
      await session.release();
      for (const backend of [gpuBackend, new CpuBackend()]) {
        const runner = new GraphRunner(backend, graph);
        const got = (await runner.run(input, 2)).get(graph.outputs[0])!;
        runner.dispose();
        expect(worst(Float32Array.from(got), want), `opset ${opset} on ${backend.kind}`).toBeLessThanOrEqual(1e-4);
      }
    }
  }, 120_000);
});

describe('dense layers too large for one buffer', () => {
  it('run in blocks of output rows: the same outputs as ONNX Runtime, and the same gradient as in one block', async () => {
    const vgg = ARCHITECTURES.find((a) => a.name === 'VGG')!;
    const path = join(root, 'vgg-blocks.onnx');
    writeFileSync(path, vgg.build());
    const graph = loadOnnxFile(path);
    const rng = new Rng(4);
    const input = Float32Array.from({ length: 2 * 3 * 32 * 32 }, () => rng.next() * 2 - 1);
    // 4 KiB: the 256 -> 24 layer in 6 blocks of 4 rows (the 24 -> 10 one fits one block).
    const blocked = new GraphRunner(gpuBackend, graph, { maxBinding: 4096 });
    expect(blocked.plan(2).steps.filter((s) => / blocks\)$/.test(s.describe)).map((s) => s.describe)).toEqual(['Gemm 256 -> 24 (6 blocks)']);
    const session = await ort.InferenceSession.create(path);
    const want = (await session.run({ input: new ort.Tensor('float32', input, [2, 3, 32, 32]) }))[graph.outputs[0]].data as Float32Array;
    expect(worst((await blocked.run(input, 2)).get(graph.outputs[0])!, want)).toBeLessThanOrEqual(TOLERANCE);
    const whole = new GraphRunner(gpuBackend, graph);
    const at = whole.plan(2).steps.find((s) => s.describe === 'Flatten')!.outputs[0];
    const o = { at, from: graph.outputs[0], seed: (s: ArrayLike<number>) => Float32Array.from(s, (_, i) => (i % 3) - 1) };
    const [a, b] = [await blocked.gradient(input, 2, o), await whole.gradient(input, 2, o)];
    expect(worst(a.grad as Float32Array, b.grad as Float32Array)).toBeLessThanOrEqual(1e-5);
    blocked.dispose();
    whole.dispose();
  });
});

describe('files wgcam cannot run, and hostile files', () => {
  const refusal = (bytes: Uint8Array) => {
    try {
      decodeOnnx(bytes, 'm.onnx');
      return 'accepted';
    } catch (e) {
      return (e as Error).message;
    }
  };
  const tiny = (edit: (b: OnnxBuilder) => void = () => {}, opset = 13) => {
    const b = new OnnxBuilder(opset);
    const x = b.input('x', ['N', 3, 8, 8]);
    b.output(b.relu(x));
    edit(b);
    return b.encode();
  };

  it('an op wgcam does not run is one line naming the op, the node and what is supported', () => {
    const b = new OnnxBuilder();
    const x = b.input('x', ['N', 3, 8, 8]);
    b.output(b.node('LRN', [x], { size: 3 }));
    const graph = decodeOnnx(b.encode(), 'm.onnx');
    expect(() => new GraphRunner(new CpuBackend(), graph).plan(1)).toThrow(/^node LRN_\d+: op LRN is not supported \(wgcam runs Conv, BatchNormalization, .*\)$/);
  });

  it('refuses garbage, opsets out of range, several inputs, external data, custom domains, cycles, missing inputs, duplicate names and lying sizes', () => {
    expect(refusal(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]))).toMatch(/^m\.onnx: not an ONNX model/);
    expect(refusal(new Uint8Array(0))).toMatch(/^m\.onnx: holds no graph/);
    // 200,000 nested group openings: refused by the decoder's depth limit, not a stack overflow.
    expect(refusal(new Uint8Array(200_000).fill(0x7b))).toMatch(/^m\.onnx: not an ONNX model \(max depth exceeded\)$/);
    expect(refusal(tiny(() => {}, 6))).toBe('m.onnx: uses opset 6; wgcam reads opsets 7 to 21');
    expect(refusal(tiny((b) => b.input('y', [1, 3, 8, 8])))).toMatch(/^m\.onnx: has 2 inputs/);
    expect(refusal(tiny((b) => (b.initializers.push({ name: 'ext', dims: [4], data_type: 1, data_location: 1, external_data: [{ key: 'location', value: '/etc/passwd' }] }))))).toMatch(/initializer 'ext' keeps its values in another file \(external data\)/);
    expect(refusal(tiny((b) => b.nodes.push({ op_type: 'Relu', domain: 'com.microsoft', input: ['x'], output: ['z'] })))).toMatch(/is an op of domain 'com\.microsoft'/);
    expect(refusal(tiny((b) => b.nodes.push({ op_type: 'Add', name: 'a', input: ['p', 'q'], output: ['q'] }, { op_type: 'Relu', name: 'r', input: ['q'], output: ['p'] })))).toMatch(/cycle|made twice/);
    expect(refusal(tiny((b) => b.nodes.push({ op_type: 'Relu', name: 'r', input: ['nowhere'], output: ['z'] })))).toBe("m.onnx: node r (Relu) reads 'nowhere', which no node, input or initializer makes");
    expect(refusal(tiny((b) => b.nodes.push({ op_type: 'Relu', name: 'r2', input: ['x'], output: [(b.nodes[0] as { output: string[] }).output[0]] })))).toMatch(/is made twice/);
    // A tensor that declares a billion values but holds 16 bytes: refused before anything is allocated.
    expect(refusal(tiny((b) => b.initializers.push({ name: 'big', dims: [1000, 1000, 1000], data_type: 1, raw_data: Buffer.alloc(16) })))).toBe("m.onnx: initializer 'big' declares 1000000000 values ([1000, 1000, 1000]) but holds 4");
    expect(refusal(tiny((b) => b.initializers.push({ name: 'neg', dims: [-5], data_type: 1 })))).toMatch(/initializer 'neg' has invalid dimensions/);
    expect(refusal(tiny((b) => b.initializers.push({ name: 's', dims: [1], data_type: 8, raw_data: Buffer.alloc(1) })))).toMatch(/data type 8, which wgcam does not read/);
  });

  it('a graph a hundred thousand nodes deep orders without overflowing the stack', () => {
    const b = new OnnxBuilder();
    let x = b.input('x', ['N', 1, 1, 1]);
    for (let i = 0; i < 100_000; i++) x = b.relu(x);
    b.output(x);
    const graph = decodeOnnx(b.encode(), 'deep.onnx');
    expect(graph.nodes).toHaveLength(100_000);
  });

  it('mutated files are one line or a graph, never a crash (1,000 mutations)', () => {
    const good = ARCHITECTURES[0].build();
    const rng = new Rng(3);
    for (let k = 0; k < 1000; k++) {
      const bytes = good.slice();
      for (let m = 0; m < 1 + Math.floor(rng.next() * 8); m++) bytes[Math.floor(rng.next() * bytes.length)] = Math.floor(rng.next() * 256);
      const cut = rng.next() < 0.2 ? bytes.subarray(0, Math.floor(rng.next() * bytes.length)) : bytes;
      const r = refusal(cut);
      if (r !== 'accepted') expect(r).toMatch(/^m\.onnx: [^\n]+$/);
    }
  });
});
