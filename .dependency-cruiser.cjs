/**
 * Layer rules for src/ (issue 16, item 6), run by `npm run lint:deps` (part of `npm run lint`).
 *
 * Layers, lowest first; a module may import its own folder and any lower layer, never a
 * higher one or a sibling on the same rank:
 *
 *   util < ingest, report < config < model < scoring < alerts < jobs
 *        < eval, features < daemon < cli
 *
 * Type-only imports count (tsPreCompilationDeps): a type cycle is still a cycle.
 * test/ and bench/ may import any layer and are not checked.
 */
const LAYERS = [
  ['util'],
  ['ingest', 'report'],
  ['config'],
  ['model'],
  ['scoring'],
  ['alerts'],
  ['jobs'],
  ['eval', 'features'],
  ['daemon'],
  ['cli'],
];

/**
 * Known violations still to fix: { from: 'src/…/file.ts', issue: 'issue N' } exempts that
 * file from the layer rules (not from no-circular). Empty today; an entry here is debt, not a design.
 */
const KNOWN_EXCEPTIONS = [];

const rank = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i])));
const names = [...rank.keys()];

/** One rule per layer: no import of a layer above it, nor of a sibling on its own rank. */
const layerRules = names.map((from) => {
  const banned = names.filter((to) => to !== from && rank.get(to) >= rank.get(from));
  return {
    name: `layer-${from}`,
    severity: 'error',
    comment: `src/${from} must not import ${banned.map((b) => `src/${b}`).join(', ')} (higher or same layer; see .dependency-cruiser.cjs)`,
    from: { path: `^src/${from}/`, pathNot: KNOWN_EXCEPTIONS.map((e) => `^${e.from}$`) },
    to: { path: `^src/(${banned.join('|')})/` },
  };
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: move the shared part into a module both sides import.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-unlayered-folder',
      severity: 'error',
      comment: 'A new top-level folder under src/ needs a place in LAYERS (.dependency-cruiser.cjs).',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: `^src/(${names.join('|')})/` },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
