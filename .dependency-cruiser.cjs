/**
 * The import rule `npm test` checks (`npm run lint:imports`): src/ folders form layers, lowest first;
 * a file may import its own folder and the folders below it, never one above (so no two folders can
 * import each other), files never import each other in a circle, and one base's folder never reaches
 * into another's (bases meet only in base/index.ts). Root files count as one-file layers.
 */
const LAYERS = [
  'errors.ts',
  'util',
  'tfjs',
  'graph',
  'runtime',
  'config.ts',
  'image',
  'evaluate',
  'events.ts',
  'dataset',
  'faces',
  'model-dir',
  'cluster',
  'train',
  'base',
  'recognize',
  'gallery',
  'export',
  'api',
  'server',
  'cli',
  'index.ts',
];

const pathOf = (layer) => (layer.endsWith('.ts') ? `^src/${layer.replace('.', '\\.')}$` : `^src/${layer}/`);

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.replace('.ts', '')}`,
  comment: `${layer} is below ${LAYERS.slice(i + 1).join(', ')}: it may not import them`,
  severity: 'error',
  from: { path: pathOf(layer) },
  to: { path: LAYERS.slice(i + 1).map(pathOf) },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'Files importing each other in a circle (types included)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'bases-apart',
      comment: 'One base folder never imports another base folder; what bases share lives below base/',
      severity: 'error',
      from: { path: '^src/base/([^/]+)/' },
      to: { path: '^src/base/[^/]+/', pathNot: '^src/base/$1/' },
    },
    {
      name: 'unplaced-folder',
      comment: 'Every src/ folder and root file has a place in LAYERS above (add a new folder there)',
      severity: 'error',
      from: { path: '^src/', pathNot: LAYERS.map(pathOf).concat(['^src/web/']) },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/web/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
