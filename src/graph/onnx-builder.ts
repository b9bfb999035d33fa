import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/**
 * A small, typed builder for ONNX graphs. Every intermediate gets a readable name
 * (`blk.3.attn_q`, `blk.3.resid_mid`...) so a dumped graph reads like the model.
 * Float32 weights held in JS are graph *inputs*, so every compiled graph (one per hook plan)
 * shares one copy; weights that ONNX Runtime reads from a file are external initializers.
 */

type ElemType = 'float32' | 'int64' | 'uint8';
export type Dim = number | string;

const ELEM_CODE: Record<ElemType, number> = { float32: 1, int64: 7, uint8: 2 };

/** ONNX Runtime's contrib operators (MatMulNBits, FusedMatMul). */
const MS_DOMAIN = 'com.microsoft';

/** ONNX attributes are typed; an integer-valued float must still be sent as FLOAT. */
type Attr =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  | { readonly s: string };

export const int = (i: number): Attr => ({ i });
export const float = (f: number): Attr => ({ f });

/** Opset 23 brings RMSNormalization and RotaryEmbedding as standard ops. */
const OPSET = 23;
const IR_VERSION = 10;

interface ValueInfo {
  readonly name: string;
  readonly elem: ElemType;
  readonly dims: readonly Dim[];
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private readonly domains = new Set<string>();

  constructor(readonly graphName: string) {}

  /** Names of the declared graph inputs, in order. */
  get inputNames(): readonly string[] {
    return this.inputs.map((v) => v.name);
  }

  get outputNames(): readonly string[] {
    return this.outputs.map((v) => v.name);
  }

  has(name: string): boolean {
    return this.used.has(name);
  }

  /** Declares a graph input (idempotent for the same name). */
  input(name: string, elem: ElemType, dims: readonly Dim[]): string {
    if (this.used.has(name)) {
      if (!this.inputs.some((v) => v.name === name)) throw new Error(`graph value ${name} already exists and is not an input`);
      return name;
    }
    this.used.add(name);
    this.inputs.push({ name, elem, dims });
    return name;
  }

  /** Marks an existing value as a graph output, renaming it through Identity when asked. */
  output(value: string, elem: ElemType, dims: readonly Dim[], as?: string): string {
    let name = value;
    if (as !== undefined && as !== value) name = this.node('Identity', [value], {}, as);
    if (this.outputs.some((v) => v.name === name)) return name;
    this.outputs.push({ name, elem, dims });
    return name;
  }

  /**
   * Renames a value produced by a node, so it can be a graph output under a fixed name without
   * an Identity node (each extra op costs a kernel launch per layer per token).
   */
  rename(value: string, to: string): string {
    if (this.used.has(to)) throw new Error(`graph value ${to} already exists`);
    const producer = this.nodes.find((n) => n.output?.includes(value));
    if (!producer || this.nodes.some((n) => n.input?.includes(value)) || this.outputs.some((o) => o.name === value)) {
      throw new Error(`cannot rename ${value}: it is not a fresh node output`);
    }
    producer.output = producer.output!.map((o) => (o === value ? to : o));
    this.used.delete(value);
    this.used.add(to);
    return to;
  }

  /** A fresh value name derived from `base`. */
  fresh(base: string): string {
    if (!this.used.has(base)) {
      this.used.add(base);
      return base;
    }
    for (let k = 1; ; k++) {
      const n = `${base}.${k}`;
      if (!this.used.has(n)) {
        this.used.add(n);
        return n;
      }
    }
  }

  /**
   * A tensor whose bytes ONNX Runtime reads from a file beside the model (`location`, relative to
   * the model file), at `offset`: packed weights that no JavaScript buffer holds.
   */
  externalInitializer(name: string, elem: ElemType, dims: readonly number[], location: string, offset: number, length: number): string {
    if (this.used.has(name)) return name;
    this.used.add(name);
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dims: [...dims],
        dataType: ELEM_CODE[elem],
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: location },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(length) },
        ],
      }),
    );
    return name;
  }

  /** A small constant (shapes, axes, scalars), deduplicated by value. */
  constInt64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh(values.length <= 8 ? `const.i64.${values.join('_').replace(/-/g, 'm')}` : `const.i64.n${values.length}`);
    this.initializers.push(
      onnx.TensorProto.create({ name, dims: [...dims], dataType: ELEM_CODE.int64, int64Data: values.map((v) => v) }),
    );
    this.constCache.set(key, name);
    return name;
  }

  constFloat(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `f32:${dims.join('x')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh(`const.f32.${values.length}`);
    this.initializers.push(onnx.TensorProto.create({ name, dims: [...dims], dataType: ELEM_CODE.float32, floatData: [...values] }));
    this.constCache.set(key, name);
    return name;
  }

  /** Adds one node; returns its (single) output name. */
  node(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, Attr>> = {}, outName?: string): string {
    return this.nodeMulti(opType, inputs, attrs, [outName ?? opType.toLowerCase()])[0];
  }

  /** A node of ONNX Runtime's contrib domain. */
  msNode(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, Attr>>, outName: string): string {
    return this.nodeMulti(opType, inputs, attrs, [outName], MS_DOMAIN)[0];
  }

  /** Adds one node with several outputs ('' as an input means an omitted optional input). */
  nodeMulti(
    opType: string,
    inputs: readonly string[],
    attrs: Readonly<Record<string, Attr>>,
    outNames: readonly string[],
    domain = '',
  ): string[] {
    const outputs = outNames.map((n) => (n === '' ? '' : this.fresh(n)));
    if (domain !== '') this.domains.add(domain);
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        domain,
        name: outputs.find((o) => o !== '') ?? opType,
        input: [...inputs],
        output: outputs,
        attribute: Object.entries(attrs).map(([name, a]) => attrProto(name, a)),
      }),
    );
    return outputs;
  }

  /** Serializes the graph as an ONNX model. */
  toBytes(): Uint8Array {
    const graph = onnx.GraphProto.create({
      name: this.graphName,
      node: this.nodes,
      input: this.inputs.map(valueInfo),
      output: this.outputs.map(valueInfo),
      initializer: this.initializers,
    });
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'steerer',
      opsetImport: [{ domain: '', version: OPSET }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      graph,
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(v: ValueInfo): onnxProto.onnx.IValueInfoProto {
  return onnx.ValueInfoProto.create({
    name: v.name,
    type: {
      tensorType: {
        elemType: ELEM_CODE[v.elem],
        shape: { dim: v.dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  });
}

function attrProto(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in a) return { name, type: T.INT, i: a.i };
  if ('f' in a) return { name, type: T.FLOAT, f: a.f };
  if ('ints' in a) return { name, type: T.INTS, ints: [...a.ints] };
  if ('floats' in a) return { name, type: T.FLOATS, floats: [...a.floats] };
  return { name, type: T.STRING, s: new TextEncoder().encode(a.s) };
}
