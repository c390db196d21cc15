/** The values API.md fixes for a model's fields. */
export const MODEL_TYPES = ['classification', 'regression', 'clustering', 'forecasting', 'other'] as const;
export const FRAMEWORKS = ['scikit-learn', 'onnx', 'tensorflow', 'pytorch', 'xgboost', 'other'] as const;
export const STATUSES = ['draft', 'ready', 'archived'] as const;
/** Files the registry accepts (joblib / pickle / skops / ONNX). */
export const MODEL_FILE_ACCEPT = '.joblib,.pkl,.pickle,.skops,.onnx,.lz4,.gz';

/** Semantic versioning 2.0.0 (semver.org's regular expression). */
export const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export function isSemver(value: string): boolean {
  return SEMVER.test(value);
}
