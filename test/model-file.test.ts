// model.bin: safetensors round trip, and every loader error path.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildModel, loadModelFile, ModelFileError, saveModel, type ModelMeta } from '../src/io/model-file.ts';
import { encodeSafetensors, readSafetensors } from '../src/io/safetensors.ts';
import { Classifier, type Arch } from '../src/nn/model.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import { Rng } from '../src/util/rng.ts';

const cpu = new CpuBackend();
const arch: Arch = { blocks: 'c4-p-c6', inputChannels: 3, height: 12, width: 10, classes: 3 };
const meta: ModelMeta = {
  arch,
  classes: ['cat', 'dog', 'fox'],
  input: { height: 12, width: 10, channels: 3, resize: 'fill', scale: '1/255' },
  valAccuracy: 0.75,
};
const dir = mkdtempSync(join(tmpdir(), 'wgcam-model-'));

async function saved(): Promise<{ path: string; bytes: Buffer; model: Classifier }> {
  const model = new Classifier(cpu, arch, new Rng(3));
  const path = join(dir, `m${Math.random().toString(36).slice(2)}.bin`);
  await saveModel(path, model, meta);
  return { path, bytes: readFileSync(path), model };
}

function variant(bytes: Buffer | Uint8Array, name: string): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/** Rewrites a valid file's header JSON through `edit`. */
function withHeader(bytes: Buffer, edit: (h: Record<string, any>) => void): Buffer {
  const len = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + len).toString());
  edit(header);
  const head = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + head.length + bytes.length - 8 - len);
  out.writeBigUInt64LE(BigInt(head.length));
  head.copy(out, 8);
  bytes.copy(out, 8 + head.length, 8 + len);
  return out;
}

describe('model file', () => {
  it('round-trips weights, metadata and PyTorch layouts', async () => {
    const { path, model } = await saved();
    const loaded = loadModelFile(path);
    expect(loaded.meta.classes).toEqual(meta.classes);
    expect(loaded.meta.valAccuracy).toBe(0.75);
    expect(loaded.meta.arch).toEqual(arch);
    const st = readSafetensors(path);
    expect([...st.tensors.keys()]).toEqual(['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'fc.weight', 'fc.bias']);
    expect(st.tensors.get('conv2.weight')!.shape).toEqual([6, 4, 3, 3]);
    expect(st.tensors.get('fc.weight')!.shape).toEqual([3, 6]);
    const rebuilt = buildModel(cpu, loaded);
    for (const [[n, a], [, b]] of model.parameters().map((p, i) => [p, rebuilt.parameters()[i]] as const)) {
      expect(Array.from(await b.toArray()), n).toEqual(Array.from(await a.toArray()));
    }
  });

  it('has the safetensors layout: u64 header length, JSON header, 8-byte aligned data', async () => {
    const { bytes } = await saved();
    const len = Number(bytes.readBigUInt64LE(0));
    expect((8 + len) % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + len).toString());
    expect(header.__metadata__.format).toBe('wgcam');
    expect(header['fc.bias']).toEqual({ dtype: 'F32', shape: [3], data_offsets: expect.any(Array) });
  });

  const bad: [string, (b: Buffer) => Buffer | Uint8Array, RegExp][] = [
    ['empty file', () => Buffer.alloc(0), /too short/],
    ['truncated in the header', (b) => b.subarray(0, 40), /header length .* larger than the file/],
    ['truncated in the data', (b) => b.subarray(0, b.length - 10), /truncated/],
    ['header length of 2^53', (b) => { const c = Buffer.from(b); c.writeBigUInt64LE(2n ** 53n); return c; }, /header length/],
    ['header not JSON', (b) => { const c = Buffer.from(b); c[9] = 0x7b; c[10] = 0x7b; return c; }, /not valid JSON/],
    ['wrong dtype', (b) => withHeader(b, (h) => (h['fc.bias'].dtype = 'F16')), /dtype "F16"/],
    ['shape does not match the bytes', (b) => withHeader(b, (h) => (h['fc.bias'].shape = [4])), /bytes for shape/],
    ['shape inconsistent with the architecture', (b) => withHeader(b, (h) => { h['fc.bias'].shape = [1, 3]; }), /shape \[1,3\], the architecture needs \[3\]/],
    ['missing tensor', (b) => withHeader(b, (h) => delete h['conv2.bias']), /'conv2.bias' is missing/],
    ['offsets outside the file', (b) => withHeader(b, (h) => (h['fc.bias'].data_offsets = [1e9, 1e9 + 12])), /ends at byte/],
    ['negative offsets', (b) => withHeader(b, (h) => (h['fc.bias'].data_offsets = [-12, 0])), /invalid data_offsets/],
    ['overlapping tensors', (b) => withHeader(b, (h) => (h['fc.bias'].data_offsets = h['conv1.bias'].data_offsets.map((o: number) => o))), /overlap|bytes for shape/],
    ['foreign safetensors', () => encodeSafetensors([{ name: 'x', shape: [2], data: new Float32Array(2) }], {}), /not a wgcam model/],
    ['arch metadata malformed', (b) => withHeader(b, (h) => (h.__metadata__.arch = '{"blocks":5}')), /'arch' is malformed/],
    ['classes do not match', (b) => withHeader(b, (h) => (h.__metadata__.classes = '["a"]')), /must list 3 class names/],
  ];
  for (const [name, mutate, msg] of bad) {
    it(`refuses: ${name}`, async () => {
      const { bytes } = await saved();
      const p = variant(mutate(bytes), `${name.replace(/\W+/g, '_')}.bin`);
      expect(() => loadModelFile(p)).toThrow(ModelFileError);
      expect(() => loadModelFile(p)).toThrow(msg);
      try {
        loadModelFile(p);
      } catch (e) {
        expect((e as Error).message.startsWith(p)).toBe(true); // names the file
        expect((e as Error).message).not.toContain('\n'); // one line
      }
    });
  }

  it('refuses a missing file', () => {
    expect(() => loadModelFile(join(dir, 'nope.bin'))).toThrow(/no such file$/);
  });

  it('refuses NaN weights', async () => {
    const { bytes } = await saved();
    const c = Buffer.from(bytes);
    c.writeFloatLE(NaN, c.length - 4);
    expect(() => loadModelFile(variant(c, 'nan.bin'))).toThrow(/NaN or Inf/);
  });
});
