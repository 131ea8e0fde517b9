// Fuzzed model files: every mutation of a valid file either loads or fails with one
// clear ModelFileError — never another exception, a hang or a huge allocation.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { loadModelFile, ModelFileError, saveModel } from '../src/io/model-file.ts';
import { Classifier, type Arch } from '../src/nn/model.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import { Rng } from '../src/util/rng.ts';
import { readFileSync } from 'node:fs';

const CASES = 1200;

it(`${CASES} mutated model files: each loads or is refused with a ModelFileError`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgcam-fuzz-'));
  const arch: Arch = { blocks: 'c3-p-c4', inputChannels: 3, height: 10, width: 10, classes: 2 };
  const valid = join(dir, 'valid.bin');
  await saveModel(valid, new Classifier(new CpuBackend(), arch, new Rng(1)), {
    arch,
    classes: ['a', 'b'],
    input: { height: 10, width: 10, channels: 3, resize: 'fill', scale: '1/255' },
    training: { epoch: 1, step: 0, seed: 1, optimizer: 'adam', lr: 0.001, batch: 4, optimizerSteps: 3 },
  });
  const bytes = readFileSync(valid);
  const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
  const rng = new Rng(99);
  const outcomes = { loaded: 0, refused: 0 };
  const path = join(dir, 'case.bin');
  for (let c = 0; c < CASES; c++) {
    const b = Buffer.from(bytes);
    let mutated: Buffer = b;
    switch (c % 6) {
      case 0: // truncation anywhere, the header length region included
        mutated = b.subarray(0, rng.int(b.length));
        break;
      case 1: // bytes of the header length
        b[rng.int(8)] = rng.int(256);
        break;
      case 2: // bytes of the JSON header
        for (let k = 0; k < 1 + rng.int(4); k++) b[8 + rng.int(headerEnd - 8)] = rng.int(256);
        break;
      case 3: // bytes of the tensor data
        for (let k = 0; k < 1 + rng.int(8); k++) b[headerEnd + rng.int(b.length - headerEnd)] = rng.int(256);
        break;
      case 4: {
        // a structurally valid header with absurd values
        const header = JSON.parse(b.subarray(8, headerEnd).toString());
        const names = Object.keys(header).filter((k) => k !== '__metadata__');
        const t = header[names[rng.int(names.length)]];
        const absurd = [2 ** 53, -1, 1e300, 'x', null, [1, 2, 3], 2 ** 31];
        const pick = absurd[rng.int(absurd.length)];
        if (rng.next() < 0.5) t.shape = [pick, 1];
        else t.data_offsets = [0, pick];
        const head = Buffer.from(JSON.stringify(header));
        const out = Buffer.alloc(8 + head.length + b.length - headerEnd);
        out.writeBigUInt64LE(BigInt(head.length));
        head.copy(out, 8);
        b.copy(out, 8 + head.length, headerEnd);
        mutated = out;
        break;
      }
      case 5: // random garbage of random length
        mutated = Buffer.from(Array.from({ length: rng.int(200) }, () => rng.int(256)));
        break;
    }
    writeFileSync(path, mutated);
    try {
      loadModelFile(path);
      outcomes.loaded++;
    } catch (e) {
      if (!(e instanceof ModelFileError)) throw new Error(`case ${c} (kind ${c % 6}): ${(e as Error).constructor.name}: ${(e as Error).message}`);
      expect((e as Error).message).not.toContain('\n');
      outcomes.refused++;
    }
  }
  expect(outcomes.loaded + outcomes.refused).toBe(CASES);
  expect(outcomes.refused).toBeGreaterThan(CASES / 2);
  expect(outcomes.loaded).toBeGreaterThan(0); // flipped data bytes still load (they are just other weights)
});
