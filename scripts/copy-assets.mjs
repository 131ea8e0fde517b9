// After `tsc -p tsconfig.build.json`: the files the compiled library loads at run time that
// tsc does not emit: the WGSL kernels, the ONNX codec (static JavaScript) and the plain-JavaScript decode worker
// and its helper.
import { cpSync, readdirSync } from 'node:fs';

cpSync('src/kernels/wgsl', 'dist/kernels/wgsl', { recursive: true });
cpSync('src/export/onnx-pb.js', 'dist/export/onnx-pb.js');
cpSync('src/export/onnx-pb.d.ts', 'dist/export/onnx-pb.d.ts');
for (const f of readdirSync('src/data').filter((f) => f.endsWith('.mjs'))) cpSync(`src/data/${f}`, `dist/data/${f}`);
