// Model files with random weights and biases for tests that compare wgcam with another
// runtime (ONNX Runtime, the web page): biases are zero at initialization, which would hide
// a bias taken from the wrong place.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectedParams, saveModel } from '../src/io/model-file.ts';
import { encodeSafetensors, readSafetensors } from '../src/io/safetensors.ts';
import { Classifier, type Arch } from '../src/nn/model.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import { Rng } from '../src/util/rng.ts';

export async function randomModel(dir: string, arch: Arch, seed: number): Promise<string> {
  const path = join(dir, `${arch.blocks}-${arch.inputChannels}x${arch.height}x${arch.width}-${arch.classes}-${seed}.bin`);
  const classes = Array.from({ length: arch.classes }, (_, i) => `class ${i}`);
  await saveModel(path, new Classifier(new CpuBackend(), arch, new Rng(seed)), { arch, classes, input: { height: arch.height, width: arch.width, channels: arch.inputChannels, resize: 'fill', scale: '1/255' } });
  const rng = new Rng(seed + 1);
  const file = readSafetensors(path);
  const tensors = expectedParams(arch).map(([name, shape]) => {
    const data = file.tensors.get(name)!.data;
    return { name, shape, data: name.endsWith('.bias') ? data.map(() => 0.2 * rng.normal()) : data };
  });
  writeFileSync(path, encodeSafetensors(tensors, file.metadata));
  return path;
}
