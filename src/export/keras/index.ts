export { saveKerasH5, type SaveKerasH5Options } from './save.js';
export { loadKerasH5, readKerasH5Labels } from './load.js';
export { KERAS_VERSION } from './format.js';
