import { Command } from 'commander';
import { HOOK_SITES } from '../../graph/hook-points.js';
import { countParameters } from '../../model/spec.js';
import { jsonOption, modelOption, openFromOptions, runAction, deviceOption, threadsOption } from '../common.js';

export function inspectCommand(): Command {
  return new Command('inspect')
    .description('architecture, sizes, dtypes and hook points of a model')
    .addOption(modelOption)
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: { model: string; threads?: string; device?: string; json?: boolean }) => {
        const model = openFromOptions(flags);
        const params = countParameters(model);
        const info = {
          name: model.source.name,
          format: model.source.format,
          path: model.source.path,
          storedDtypes: model.source.dtypes,
          parameters: params,
          weightBytesF32: params * 4,
          // What the weights take in memory as loaded: float32 ones plus the packed (block-quantized) ones.
          weightBytes: [...model.weights.values()].reduce((n, t) => n + t.data.byteLength, 0) + (model.packed?.bytes ?? 0),
          packedMatrices: model.packed?.matrices.size ?? 0,
          // Float32 matrices read in place from the model file (shared pages, not a copy).
          mappedMatrices: model.packed?.mapped.size ?? 0,
          spec: model.spec,
          chatTemplate: model.chatTemplate !== undefined,
          hookPoints: HOOK_SITES.map((s) => `blocks.{0..${model.spec.numLayers - 1}}.hook_${s}`),
        };
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
          return;
        }
        const s = model.spec;
        const lines = [
          `${info.name} (${info.format}: ${info.path})`,
          `architecture   ${s.architecture} (${s.family} graph)`,
          `parameters     ${(params / 1e6).toFixed(3)} M (${(params * 4 / 2 ** 20).toFixed(1)} MiB as F32)`,
          `stored dtypes  ${Object.entries(info.storedDtypes).map(([k, v]) => `${k}×${v}`).join(', ')}`,
          `in memory      ${(info.weightBytes / 2 ** 20).toFixed(1)} MiB${info.packedMatrices ? ` (${info.packedMatrices} linear weights kept quantized for MatMulNBits; STEERER_WEIGHTS=f32 expands them)` : ''}${info.mappedMatrices ? ` + ${info.mappedMatrices} float32 linear weights mapped from the file` : ''}`,
          `layers         ${s.numLayers}`,
          `hidden         ${s.hiddenSize}, MLP ${s.intermediateSize} (${s.activation})`,
          `heads          ${s.numHeads} query, ${s.numKvHeads} key/value, head dim ${s.headDim}`,
          `norm           ${s.norm} (eps ${s.normEps})`,
          `positions      ${s.positions}${s.rope ? ` (theta ${s.rope.theta}${s.rope.scaling ? `, ${s.rope.scaling.type} scaling` : ''})` : ''}, context ${s.maxPositions}`,
          `vocabulary     ${s.vocabSize}${s.tiedEmbeddings ? ' (tied embeddings)' : ''}; BOS ${s.bosTokenId ?? '-'}${s.addBos ? ' (added)' : ''}, EOS ${s.eosTokenIds.join(',') || '-'}`,
          `chat template  ${info.chatTemplate ? 'yes' : 'no'}`,
          `hook points    ${info.hookPoints.join(', ')}`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
        await model.dispose();
      }),
    );
}
