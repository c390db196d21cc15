/** The values API.md and the runner fix for a deployment's fields and parameters. */

export const DEPLOYMENT_STATUSES = ['active', 'inactive'] as const;
/** What the scheduler does with slots it could not fire in time (shared/cron.py). */
export const MISFIRE_POLICIES = ['run_once', 'skip', 'catch_up'] as const;
export const MAX_CONCURRENT = { min: 1, max: 100 } as const;
export const JITTER_S = { min: 0, max: 3600 } as const;
/** Input datasets the deployer reads (shared/datasets.py). */
export const INPUT_ACCEPT = '.csv,.json,.parquet';

/**
 * The parameters the runner itself understands (services/runner/domain.py,
 * RUNNER_PARAMETERS). Every other parameter is kept and handed to the run as is.
 * `check` returns the i18n key of what is wrong with a value, or null.
 */
export interface RunnerParameter {
  name: string;
  /** i18n key suffix under `deployments.runner_params.<name>`. */
  example: string;
  check: (value: unknown) => string | null;
}

const oneOf = (values: string[]) => (value: unknown) =>
  typeof value === 'string' && values.includes(value.toLowerCase()) ? null : 'one_of';

const asBoolean = (value: unknown) =>
  typeof value === 'boolean' || (typeof value === 'string' && /^(true|false|1|0|yes|no)$/i.test(value.trim()))
    ? null
    : 'boolean';

const numberBetween = (low: number, high: number, integer: boolean) => (value: unknown) => {
  const number = typeof value === 'string' && value.trim() ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number)) return 'number';
  if (integer && !Number.isInteger(number)) return 'integer';
  return number < low || number > high ? 'range' : null;
};

export const OUTPUT_FORMATS = ['csv', 'json', 'parquet'];
export const ON_BAD_ROWS = ['fail', 'skip'];

export const RUNNER_PARAMETERS: RunnerParameter[] = [
  { name: 'output_format', example: 'csv', check: oneOf(OUTPUT_FORMATS) },
  { name: 'predict_proba', example: 'true', check: asBoolean },
  { name: 'on_bad_rows', example: 'skip', check: oneOf(ON_BAD_ROWS) },
  { name: 'timeout_s', example: '600', check: numberBetween(0.1, 7 * 24 * 3600, false) },
  { name: 'batch_size', example: '50000', check: numberBetween(1, 100_000_000, true) },
];

/** Problems of the runner's own parameters: name → i18n key of the problem. */
export function checkRunnerParameters(parameters: Record<string, unknown>): Record<string, string> {
  const problems: Record<string, string> = {};
  for (const parameter of RUNNER_PARAMETERS) {
    if (!(parameter.name in parameters)) continue;
    const problem = parameter.check(parameters[parameter.name]);
    if (problem) problems[parameter.name] = problem;
  }
  return problems;
}

/** Every IANA zone the browser knows, UTC first (V8 leaves UTC out of its list). */
export function timeZones(): string[] {
  const intl = Intl as typeof Intl & { supportedValuesOf?: (key: string) => string[] };
  const zones = intl.supportedValuesOf ? intl.supportedValuesOf('timeZone') : [];
  return ['UTC', ...zones.filter((zone) => zone !== 'UTC')];
}

/** A cron expression has exactly 5 fields here (minute hour day month weekday). */
export function cronFieldCount(expression: string): number {
  return expression.trim() ? expression.trim().split(/\s+/).length : 0;
}
