/** Small display helpers of the Deployments screens. */

/** 1536 → "1,5 ko" (French units) / "1.5 kB". */
export function formatBytes(size: number | null | undefined, language: string): string {
  if (size == null) return '';
  const units = language === 'en' ? ['B', 'kB', 'MB', 'GB'] : ['o', 'ko', 'Mo', 'Go'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toLocaleString(language, { maximumFractionDigits: unit ? 1 : 0 })} ${units[unit]}`;
}

/** A parameter's value as typed (strings bare, the rest as JSON). */
export function formatValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
