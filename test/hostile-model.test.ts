// Hostile model files, class by class: headers that would make a loader allocate what the
// file cannot justify, values nested to overflow a stack, metadata that does not match what
// wgcam feeds a network, and paths that are not regular files. Each is one ModelFileError
// that names the file, is one line, and comes before any tensor data is allocated.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModelFile, ModelFileError, saveModel, type ModelMeta } from '../src/io/model-file.ts';
import { encodeSafetensors, readSafetensors } from '../src/io/safetensors.ts';
import { Classifier, type Arch } from '../src/nn/model.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import { Rng } from '../src/util/rng.ts';

const dir = mkdtempSync(join(tmpdir(), 'wgcam-hostile-'));
const arch: Arch = { blocks: 'c3-p-c4', inputChannels: 3, height: 10, width: 10, classes: 2 };
const meta: ModelMeta = {
  arch,
  classes: ['a', 'b'],
  input: { height: 10, width: 10, channels: 3, resize: 'fill', scale: '1/255' },
  training: { epoch: 1, step: 0, seed: 1, optimizer: 'adam', lr: 0.001, batch: 4, optimizerSteps: 3 },
};
let n = 0;

function file(bytes: Uint8Array | string): string {
  const p = join(dir, `case-${n++}.bin`);
  writeFileSync(p, bytes);
  return p;
}

/** A raw safetensors file from a header object and `dataBytes` zero bytes. */
function raw(header: unknown, dataBytes: number): string {
  const head = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const out = Buffer.alloc(8 + head.length + dataBytes);
  out.writeBigUInt64LE(BigInt(head.length));
  head.copy(out, 8);
  return file(out);
}

/** A valid model whose metadata (JSON strings) is edited first. */
async function withMeta(edit: (m: Record<string, string>) => void): Promise<string> {
  const base = join(dir, `base-${n++}.bin`);
  await saveModel(base, new Classifier(new CpuBackend(), arch, new Rng(1)), meta);
  const st = readSafetensors(base);
  edit(st.metadata);
  return file(encodeSafetensors([...st.tensors].map(([name, t]) => ({ name, ...t })), st.metadata));
}

function refusal(path: string): string {
  try {
    loadModelFile(path);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelFileError);
    const msg = (e as Error).message;
    expect(msg.startsWith(`${path}: `), msg).toBe(true);
    expect(msg).not.toContain('\n');
    expect(msg.length).toBeLessThan(400);
    return msg.slice(path.length + 2);
  }
  throw new Error(`${path} loaded`);
}

describe('resources are bounded by what the file can justify', () => {
  it('many tensors sharing one hole: refused from the header, without allocating their sizes', () => {
    // 16 KiB of data, 2,000 tensors that each claim all of it: 32 MB if read one by one.
    const header: Record<string, unknown> = {};
    for (let i = 0; i < 2000; i++) header[`t${i}`] = { dtype: 'F32', shape: [4096], data_offsets: [0, 16384] };
    const path = raw(header, 16384);
    const before = process.memoryUsage().arrayBuffers;
    expect(refusal(path)).toMatch(/^tensors 't\d+' and 't\d+' overlap$/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 * 2 ** 20);
  });

  it('more tensors than any model has, shapes whose product overflows, offsets past the end', () => {
    const many: Record<string, unknown> = {};
    for (let i = 0; i < 10_001; i++) many[`t${i}`] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] };
    expect(refusal(raw(many, 0))).toBe('the header lists 10001 tensors (at most 10000)');
    const huge = { t: { dtype: 'F32', shape: [2 ** 26, 2 ** 26, 2 ** 26], data_offsets: [0, 64] } };
    expect(refusal(raw(huge, 64))).toMatch(/^tensor 't' has 64 bytes for shape \[67108864,67108864,67108864\] \(needs more than the file's 64 data bytes\)$/);
    expect(refusal(raw({ t: { dtype: 'F32', shape: [4], data_offsets: [0, 2 ** 40] } }, 16))).toMatch(/ends at byte 1099511627776 but the file has only 16 data bytes/);
    expect(refusal(raw({ t: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4))).toMatch(/invalid shape/);
  });

  it('a header length beyond the file, or beyond 16 MiB', () => {
    const b = Buffer.alloc(64);
    b.writeBigUInt64LE(2n ** 62n);
    expect(refusal(file(b))).toMatch(/header length 4611686018427387904 is larger than the file allows/);
  });
});

describe('every field is checked, every error names the file', () => {
  it('values nested 100,000 levels deep (dtype, shape, offsets, metadata) are one line, not a stack overflow', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    for (const field of ['dtype', 'shape', 'data_offsets']) {
      const header = `{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"${field}":${deep}}}`;
      expect(refusal(raw(header, 4))).toMatch(/^tensor 't' has (dtype an array of 1|an invalid shape \(an array of 1|invalid data_offsets \(an array of 1)/);
    }
    const nestedMeta = await withMeta((m) => (m.arch = deep));
    expect(refusal(nestedMeta)).toBe("metadata 'arch' is malformed");
    const nestedClasses = await withMeta((m) => (m.classes = `[${deep}, "b"]`));
    expect(refusal(nestedClasses)).toMatch(/^metadata 'classes' must/);
  });

  it('metadata must describe what wgcam feeds the network: 1 or 3 channels, fill resize, 1/255 scale', async () => {
    const channels = (c: number) =>
      withMeta((m) => {
        m.arch = JSON.stringify({ ...arch, inputChannels: c });
        m.input = JSON.stringify({ ...meta.input, channels: c });
      });
    expect(refusal(await channels(4))).toBe("metadata 'arch' asks for 4 input channels; wgcam feeds 1 (gray) or 3 (RGB)");
    expect(refusal(await channels(2))).toBe("metadata 'arch' asks for 2 input channels; wgcam feeds 1 (gray) or 3 (RGB)");
    expect(refusal(await withMeta((m) => (m.input = JSON.stringify({ ...meta.input, resize: 'crop' }))))).toMatch(/asks for resize "crop", scale "1\/255"; wgcam prepares images as resize "fill"/);
    expect(refusal(await withMeta((m) => (m.input = JSON.stringify({ ...meta.input, height: 11 }))))).toBe("metadata 'input' does not match the architecture");
    expect(refusal(await withMeta((m) => (m.classes = '["a","a"]')))).toBe("metadata 'classes' names a class twice");
    expect(refusal(await withMeta((m) => (m.classes = '["a",""]')))).toMatch(/names of 1\.\.255 characters/);
    expect(refusal(await withMeta((m) => (m.classes = '["a",7]')))).toMatch(/names of 1\.\.255 characters/);
    expect(refusal(await withMeta((m) => (m.format_version = 'abc')))).toBe('metadata \'format_version\' is "abc", not a version number');
    expect(refusal(await withMeta((m) => (m.val_accuracy = 'NaN')))).toBe('metadata \'val_accuracy\' is "NaN", not a number in 0..1');
    expect(refusal(await withMeta((m) => (m.arch = JSON.stringify({ ...arch, height: 1e9 }))))).toMatch(/has height 1000000000; need 1\.\.8192/);
    expect(refusal(await withMeta((m) => (m.arch = JSON.stringify({ ...arch, classes: 0 }))))).toMatch(/has 0 classes; need 1\.\./);
  });

  it('training state and optimizer tensors are checked too (a resume trusts them)', async () => {
    const t = meta.training!;
    for (const [field, value] of [['epoch', -1], ['step', 0.5], ['optimizer', 'rmsprop'], ['lr', 'fast'], ['batch', 0], ['flip', 'yes'], ['valSplit', 1]] as const) {
      const path = await withMeta((m) => (m.training = JSON.stringify({ ...t, [field]: value })));
      expect(refusal(path)).toBe(`metadata 'training' has an invalid ${field}`);
    }
    // The recorded kernel choices: a resume runs what they name.
    const good = { kernel: 'conv2d_forward', shape: '3->4 16x16', variant: 'winograd4' };
    const kernels = async (value: unknown) => refusal(await withMeta((m) => (m.training = JSON.stringify({ ...t, convKernels: value }))));
    expect(await kernels({ length: 1 })).toBe("metadata 'training' has an invalid convKernels (not a list of choices)");
    expect(await kernels(Array(9000).fill(good))).toBe("metadata 'training' has an invalid convKernels (not a list of choices)");
    expect(await kernels([good, 7])).toBe("metadata 'training' has an invalid convKernels entry 2");
    expect(await kernels([{ ...good, kernel: '__proto__' }])).toBe('metadata \'training\' has an invalid convKernels entry 1 (kernel "__proto__")');
    expect(await kernels([{ ...good, kernel: 'constructor' }])).toBe('metadata \'training\' has an invalid convKernels entry 1 (kernel "constructor")');
    expect(await kernels([{ ...good, variant: 'fastest' }])).toBe('metadata \'training\' has an invalid convKernels entry 1 (variant "fastest" of conv2d_forward)');
    expect(await kernels([{ ...good, shape: '3->4 16x16; rm -rf' }])).toMatch(/invalid convKernels entry 1 \(shape "3->4 16x16; rm -rf"\)/);
    expect(loadModelFile(await withMeta((m) => (m.training = JSON.stringify({ ...t, convKernels: [good] })))).meta.training!.convKernels).toEqual([good]);
    const base = join(dir, `opt-${n++}.bin`);
    await saveModel(base, new Classifier(new CpuBackend(), arch, new Rng(1)), meta);
    const st = readSafetensors(base);
    const tensors = [...st.tensors].map(([name, x]) => ({ name, ...x }));
    const stray = file(encodeSafetensors([...tensors, { name: 'optimizer.conv1.weight.momentum', shape: [3, 3, 3, 3], data: new Float32Array(81) }], st.metadata));
    expect(refusal(stray)).toBe("unexpected optimizer tensor 'optimizer.conv1.weight.momentum'");
    const misshapen = file(encodeSafetensors([...tensors, { name: 'optimizer.conv1.weight.exp_avg', shape: [81], data: new Float32Array(81) }], st.metadata));
    expect(refusal(misshapen)).toBe("unexpected optimizer tensor 'optimizer.conv1.weight.exp_avg'");
  });

  it('paths that are not regular files are refused without being opened', async () => {
    const folder = join(dir, 'a-folder.bin');
    mkdirSync(folder);
    expect(refusal(folder)).toBe('a folder, not a file');
    const fifo = join(dir, 'pipe.bin');
    execFileSync('mkfifo', [fifo]);
    expect(refusal(fifo)).toBe('a named pipe (FIFO), not a file'); // opening it would block forever
    const sock = join(dir, 'sock.bin');
    const server = createServer().listen(sock);
    await new Promise((r) => server.once('listening', r));
    expect(refusal(sock)).toBe('a socket, not a file');
    server.close();
    expect(refusal('/dev/zero')).toBe('a device, not a file');
    const loop = join(dir, 'loop.bin');
    execFileSync('ln', ['-s', loop, loop]);
    expect(refusal(loop)).toBe('a symbolic link loop');
    const dangling = join(dir, 'dangling.bin');
    execFileSync('ln', ['-s', join(dir, 'gone'), dangling]);
    expect(refusal(dangling)).toBe('a symbolic link to a missing file');
    expect(refusal(join(dir, 'nope.bin'))).toBe('no such file');
  });
});
