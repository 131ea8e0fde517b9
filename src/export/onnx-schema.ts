/**
 * ONNX's ModelProto codec for the exporter, the importer and the tests' builder: static code
 * that `npm run gen:onnx` generates from onnx.proto with protobufjs' pbjs (a test checks that
 * it is up to date). Static, because protobufjs' reflection compiles its codecs with `new
 * Function`, which the web page's Content Security Policy rightly forbids.
 */
import { onnx } from './onnx-pb.js';

export const ModelProto = onnx.ModelProto;
