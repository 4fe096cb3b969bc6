/**
 * The small onnx-proto constructors every graph this project builds needs (the exported
 * denoiser, its training step, the scoring recipe): tensors, attributes, value infos.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const FLOAT = 1;
export const INT64 = 7;

export type OnnxNode = InstanceType<typeof onnx.NodeProto>;
export type OnnxTensor = InstanceType<typeof onnx.TensorProto>;
export type OnnxAttr = InstanceType<typeof onnx.AttributeProto>;

export function intsAttr(name: string, ints: number[]): OnnxAttr {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints });
}

export function intAttr(name: string, i: number): OnnxAttr {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });
}

export function floatAttr(name: string, f: number): OnnxAttr {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f });
}

export function floatTensor(name: string, data: Float32Array, dims: number[]): OnnxTensor {
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: FLOAT,
    rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
  });
}

export function int64Tensor(name: string, values: number[]): OnnxTensor {
  const buf = new BigInt64Array(values.map((v) => BigInt(v)));
  return onnx.TensorProto.create({ name, dims: [values.length], dataType: INT64, rawData: new Uint8Array(buf.buffer) });
}

/** A float tensor's value info; string dims are symbolic (e.g. the batch). */
export function valueInfo(name: string, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: FLOAT,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) =>
            typeof d === 'number' ? onnx.TensorShapeProto.Dimension.create({ dimValue: d }) : onnx.TensorShapeProto.Dimension.create({ dimParam: d }),
          ),
        }),
      }),
    }),
  });
}
