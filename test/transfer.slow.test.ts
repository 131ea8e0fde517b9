// The claim of README's transfer-learning table, checked on a fresh run of the script that makes
// it (scripts/transfer-proof.ts): a backbone wgcam pretrained on other classes and exported to
// ONNX, frozen, beats a network trained from scratch on the same few photos, validated on the
// same photos.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('transfer learning helps', () => {
  it('a pretrained backbone, frozen or fine-tuned, beats training from scratch on 20 photos a class', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/transfer-proof.ts', '--json'], { encoding: 'utf8', timeout: 600_000 });
    expect(r.status, r.stderr).toBe(0);
    const { rows, validation } = JSON.parse(r.stdout) as { validation: number; rows: { name: string; accuracy: number; epochSeconds: number }[] };
    expect(validation).toBe(60);
    const [scratch, frozen, frozenConv, tuned] = rows;
    expect(scratch.name).toMatch(/from scratch/);
    expect(tuned.name).toMatch(/fine-tuned/);
    for (const transferred of [frozen, frozenConv, tuned]) expect(transferred.accuracy, transferred.name).toBeGreaterThan(scratch.accuracy + 0.1);
  }, 600_000);
});
