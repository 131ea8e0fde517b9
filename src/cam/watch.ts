/**
 * Live CAM while training (--watch N): after every epoch, overlays of the same N
 * validation images go into OUT/cam-epoch-NNN/, so one can see where the network
 * learns to look. Uses the model being trained, on the same device.
 */
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { TrainOptions } from '../train/trainer.ts';
import type { GpuBackend } from '../tensor/gpu-backend.ts';
import { Explainer } from './explain.ts';
import { cellGeometry, cellToPhoto } from './geometry.ts';
import { safeStem, writeCamOutputs } from './outputs.ts';
import { photoFromInput } from './photos.ts';
import { defaultMemoryLimit } from '../nn/machine-memory.ts';

export function watchCallback(out: string, count: number): NonNullable<TrainOptions['afterEpoch']> {
  return async ({ epoch, model, data, val, meta }) => {
    if (!val.length) return;
    // Evenly spaced over the (sorted) validation set, the same ones every epoch.
    const picks = Array.from({ length: Math.min(count, val.length) }, (_, i) => val[Math.floor((i * val.length) / Math.min(count, val.length))]);
    const inputs = picks.map((i) => data.read([i]));
    const photos = inputs.map((px) => photoFromInput(px, meta.input));
    const backend = model.backend as GpuBackend;
    const results = await new Explainer(backend, model, { limit: defaultMemoryLimit() }).explain(inputs, photos, { mode: 'contrast', contrast: 'runner-up', cls: -1, rawScale: 1, allClasses: false });
    const geometry = cellGeometry(meta.arch.blocks);
    const dir = join(out, `cam-epoch-${String(epoch).padStart(3, '0')}`);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < picks.length; i++) {
      const stem = `${String(i).padStart(2, '0')}-${safeStem(basename(data.names[picks[i]]))}`;
      const toPhoto = cellToPhoto(geometry, meta.input.width, meta.input.height, photos[i].width, photos[i].height);
      await writeCamOutputs(data.names[picks[i]], stem, results[i], photos[i], meta.classes, { outDir: dir, colormap: 'jet', alpha: 0.5, box: true, json: false, overwrite: true, boxThreshold: 0.2 }, toPhoto);
    }
  };
}
