/**
 * The admin service's reasons for refusing a setting (services/admin/domain.py and the
 * gateway's schema, in English) said in French; an unknown reason keeps the server's
 * words after a French lead-in.
 */
import type { TFunction } from 'i18next';

const PATTERNS: [RegExp, string, string[]][] = [
  [/^must be between (\S+) and (\S+)/, 'between', ['low', 'high']],
  [/^must be a whole number|Not a valid integer/i, 'integer', []],
  [/^must be a number|Not a valid number/i, 'number', []],
  [/^must be an IANA time zone/, 'timezone', []],
  [/^must be a list of host names/, 'hosts_list', []],
  [/^at most (\S+) entries/, 'hosts_max', ['max']],
  [/^'?(.+?)'? is not a host name, an IP address or a CIDR range/, 'host', ['entry']],
  [/^empty host/, 'host_empty', []],
  [/^default_execution_timeout_s must not exceed max_execution_timeout_s/, 'timeouts', []],
  [/^must not exceed retention_days \((\S+)\)/, 'retention', ['days']],
  [/^unknown setting|Unknown field/i, 'unknown', []],
  [/Not a valid string/i, 'string', []],
  [/Not a valid list/i, 'hosts_list', []],
];

export function settingReason(message: string, t: TFunction): string {
  for (const [pattern, key, names] of PATTERNS) {
    const match = pattern.exec(message);
    if (match) {
      const values = Object.fromEntries(names.map((name, index) => [name, match[index + 1]]));
      return t(`settings.errors.${key}`, values);
    }
  }
  return t('settings.errors.other', { detail: message });
}
