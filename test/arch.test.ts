// Architecture strings: parsing, shapes, and the default fitted to small inputs.
import { describe, expect, it } from 'vitest';
import { DEFAULT_ARCH, defaultArchFor, featureShapes, parseBlocks } from '../src/nn/model.ts';

describe('architecture', () => {
  it('parses blocks and refuses bad ones with a clear message', () => {
    expect(parseBlocks('c8-p-c16')).toEqual([{ kind: 'conv', channels: 8 }, { kind: 'pool' }, { kind: 'conv', channels: 16 }]);
    expect(() => parseBlocks('c8-x')).toThrow(/'x' is neither cN/);
    expect(() => parseBlocks('c8-p')).toThrow(/must end with a conv block/);
    expect(() => parseBlocks('p')).toThrow(/needs at least one conv/);
    expect(() => parseBlocks('c0')).toThrow(/1 <= N <= 4096/);
  });

  it('computes every block’s output shape, floor pools included', () => {
    expect(featureShapes({ blocks: 'c4-p-c6', inputChannels: 3, height: 11, width: 12, classes: 2 })).toEqual([
      [4, 9, 10],
      [4, 4, 5],
      [6, 2, 3],
    ]);
  });

  it('shortens the default to fit small images and keeps it for photos', () => {
    expect(defaultArchFor(3, 224, 224)).toBe(DEFAULT_ARCH);
    expect(defaultArchFor(1, 28, 28)).toBe('c32-p-c64-p-c128');
    expect(defaultArchFor(3, 12, 12)).toBe('c32-p-c64');
    expect(defaultArchFor(3, 5, 5)).toBe('c32');
  });
});
