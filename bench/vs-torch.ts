/**
 * npm run bench -- --vs torch [--size N] [--quick]
 *
 * Head-to-head with PyTorch on the CPU (the alternative on a machine without a GPU), or on CUDA
 * where wgcam runs on a real GPU (PyTorch's CPU if it has no CUDA device there): the same
 * network (the default c32-p-c64-p-c128-p-c256, 2 classes), batch 16, a training step (SGD with
 * momentum) and an inference pass, at --size (default 64 and 224). PyTorch runs in a worker
 * process (bench/torch_peer.py, channels-last, all cores). wgcam runs twice: on the direct
 * kernels, and on the per-layer choice a training run would measure (nn/conv-choice.ts); the
 * samples are taken in turns (direct, chosen, PyTorch), so all three see the same machine. The Python with PyTorch is WGCAM_PYTHON, python3
 * or /usr/bin/python3 (Debian's python3-torch), whichever imports torch.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { imagesToTensor, softmax } from '../src/autograd/ops.ts';
import { noGrad } from '../src/autograd/tape.ts';
import { openGpu } from '../src/gpu/dawn.ts';
import { packBytes } from '../src/kernels/images.ts';
import { Classifier, DEFAULT_ARCH, type Arch } from '../src/nn/model.ts';
import { Sgd } from '../src/nn/optim.ts';
import { trainStep, type Batch } from '../src/nn/train-step.ts';
import { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { describeChoices, measureConvChoices, recorded } from '../src/nn/conv-choice.ts';
import { Tensor, tidy } from '../src/tensor/tensor.ts';
import { Rng } from '../src/util/rng.ts';
import { median, sampleMs } from '../src/util/timing.ts';

const BATCH = 16;

/** The first Python that imports torch, or null. */
export function pythonWithTorch(): string | null {
  const candidates = process.env.WGCAM_PYTHON ? [process.env.WGCAM_PYTHON] : ['python3', '/usr/bin/python3'];
  return candidates.find((py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 }).status === 0) ?? null;
}

/** The PyTorch worker: one JSON request, one JSON reply. */
export function torchPeer(python: string) {
  const child = spawn(python, [fileURLToPath(new URL('torch_peer.py', import.meta.url))], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    async ask(request: object): Promise<Record<string, number | string>> {
      child.stdin!.write(JSON.stringify(request) + '\n');
      const { value, done } = await lines.next();
      if (done) throw new Error('the PyTorch worker stopped');
      const reply = JSON.parse(value as string);
      if (reply.error) throw new Error(`the PyTorch worker: ${reply.error}`);
      return reply;
    },
    close: () => child.stdin!.end(),
  };
}


export async function vsTorch(o: { sizes: number[]; quick: boolean }): Promise<void> {
  const python = pythonWithTorch();
  if (!python) {
    console.log('\n--vs torch needs PyTorch: on Debian or Ubuntu `apt-get install python3-torch`, elsewhere `pip install torch`; or point WGCAM_PYTHON at a Python that has it');
    return;
  }
  const samples = o.quick ? 3 : 9;
  const peer = torchPeer(python);
  const gpu = await openGpu();
  const backend = new GpuBackend(gpu);
  const rows: string[] = [];
  let device: 'cpu' | 'cuda' = gpu.onCpu ? 'cpu' : 'cuda';
  try {
    for (const size of o.sizes) {
      const arch: Arch = { blocks: DEFAULT_ARCH, inputChannels: 3, height: size, width: size, classes: 2 };
      const request = { op: 'setup', blocks: DEFAULT_ARCH, size, batch: BATCH, classes: 2 };
      let setup: Record<string, number | string>;
      try {
        setup = await peer.ask({ ...request, device });
      } catch (e) {
        if (device === 'cpu') throw e;
        console.log(`\n${(e as Error).message}: comparing with PyTorch on the CPU`);
        device = 'cpu';
        setup = await peer.ask({ ...request, device });
      }
      if (!rows.length) console.log(`\nvs PyTorch ${setup.torch} (${setup.device}, channels-last) on ${DEFAULT_ARCH}, batch ${BATCH}; wgcam on ${gpu.adapterName}; medians of ${samples}, samples in turns\n`);
      const measured = await measureConvChoices(gpu, arch, BATCH);
      const chosen = recorded(measured);
      console.log(`${size}x${size} kernels chosen by measurement: ${describeChoices(measured)}`);
      const model = new Classifier(backend, arch, new Rng(1));
      const opt = new Sgd(backend, model.parameters(), { lr: 0.01, momentum: 0.9 });
      const stats = Tensor.zeros(backend, [4]).keep();
      const rng = new Rng(2);
      const pixels = Uint8Array.from({ length: BATCH * size * size * 3 }, () => rng.int(256));
      const batch: Batch = { pixels, labels: Float32Array.from({ length: BATCH }, (_, i) => i % 2), n: BATCH };
      let probs: Tensor | null = null;
      const figures: [string, () => void, () => Promise<void>, 'train' | 'infer'][] = [
        [`train step ${size}x${size}`, () => trainStep(model, opt, batch, stats), () => gpu.sync(), 'train'],
        [
          `inference ${size}x${size}`,
          () => {
            probs = noGrad(() => tidy(() => softmax(model.forward(imagesToTensor(backend, packBytes(pixels), new Float32Array(BATCH), { N: BATCH, C: 3, H: size, W: size })))));
          },
          async () => {
            await probs!.toArray();
            probs!.dispose();
          },
          'infer',
        ],
      ];
      const on = (choices: typeof chosen) => () => backend.useConvChoices(choices);
      const [direct, choice] = [on([]), on(chosen)];
      for (const [name, step, finish, op] of figures) {
        for (const use of [direct, choice]) {
          use();
          await sampleMs(1, step, finish); // warm-up: pipelines, buffers
        }
        await peer.ask({ op }); // PyTorch's allocator
        const [plain, ours, theirs]: number[][] = [[], [], []];
        for (let s = 0; s < samples; s++) {
          direct();
          plain.push(await sampleMs(1, step, finish));
          choice();
          ours.push(await sampleMs(1, step, finish));
          theirs.push((await peer.ask({ op })).ms as number);
        }
        const [d, a, b] = [median(plain), median(ours), median(theirs)];
        rows.push(`${name.padEnd(22)}${d.toFixed(1).padStart(12)}${a.toFixed(1).padStart(12)}${b.toFixed(1).padStart(14)}${`${(b / a).toFixed(2)}x`.padStart(22)}`);
      }
      stats.dispose();
      model.dispose();
    }
    console.log(`\n${'figure'.padEnd(22)}${'direct ms'.padStart(12)}${'chosen ms'.padStart(12)}${'PyTorch ms'.padStart(14)}${'speed vs PyTorch'.padStart(22)}`);
    for (const r of rows) console.log(r);
  } finally {
    peer.close();
    gpu.destroy();
  }
}
