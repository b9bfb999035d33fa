/**
 * The layering of src/ (docs/architecture.md), checked on every `npm test`: no import circles,
 * and a folder imports only from folders below it. Bottom first; folders on one line are peers
 * that do not import each other.
 */
const LAYERS = [
  ['util'],
  ['io'],
  ['model', 'code'],
  ['graph'],
  ['linalg'],
  ['runtime'],
  ['probes'],
  ['decoding'],
  ['sae'],
  ['steering'],
  ['explore'],
  ['generators'],
  ['concept'],
  ['evals'],
  ['auto'],
  ['report'],
  ['server'],
  ['cli'],
];

/** One rule per layer: its files may not import any folder at or above the next layer. */
const upward = LAYERS.flatMap((group, i) => {
  const above = LAYERS.slice(i + 1).flat();
  const peers = group.length > 1 ? group : [];
  return group.map((folder) => ({
    name: `no-upward-from-${folder}`,
    comment: `src/${folder} sits below ${above.join(', ') || 'nothing'}: it may not import them`,
    severity: 'error',
    from: { path: `^src/${folder}/` },
    to: { path: `^src/(${[...above, ...peers.filter((p) => p !== folder)].join('|')})/` },
  })).filter((r) => above.length > 0 || peers.length > 1);
});

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'import circles make the order of loading and of understanding undefined', from: {}, to: { circular: true } },
    {
      name: 'no-barrel-inside',
      severity: 'error',
      comment: 'src/index.ts is the public API: nothing inside src imports it',
      from: { path: '^src/.+/' },
      to: { path: '^src/index\\.ts$' },
    },
    ...upward,
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
  },
};
