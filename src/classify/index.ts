export { compileClassifier } from './compile-classifier.js';
export { appSignatures } from './app-signatures.js';
export type { AppSignature } from './app-signatures.js';
export type {
  Classification,
  Classifier,
  ClassifierApp,
  ClassifyRecord,
  RuleKind,
  SkippedPattern,
} from './types.js';
