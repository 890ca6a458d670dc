/**
 * Unit tests of the panel's TypeScript (src/__tests__), in jsdom, with JupyterLab's own Jest
 * preset. ts-jest only transpiles (isolatedModules): `tsc` checks types separately, faster.
 */
const jestJupyterLab = require('@jupyterlab/testing/lib/jest-config');

// ES modules Jest must transpile: JupyterLab's (its preset lists the rest) and Lumino's.
const esModules = [
  '@codemirror', '@jupyter/', '@jupyterlab/', '@lumino/', '@marijn', '@microsoft', 'color',
  'exenv-es6', 'lib0', 'marked', 'nanoid', 'vscode-ws-jsonrpc', 'y-protocols', 'y-websocket', 'yjs'
].join('|');
const base = jestJupyterLab(__dirname);

module.exports = {
  ...base,
  reporters: ['default'],
  testRegex: 'src/__tests__/.*\\.spec\\.tsx?$',
  transform: {
    ...base.transform,
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: './tsconfig.test.json' }]
  },
  transformIgnorePatterns: [`/node_modules/(?!${esModules}).+`]
};
