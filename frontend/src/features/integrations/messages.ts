/**
 * The API's reasons for refusing a webhook URL (services/admin/webhooks.py, in English)
 * said in the user's language; an unknown reason is shown as the server wrote it, after a
 * French lead-in, so nothing the server says is lost.
 */
import type { TFunction } from 'i18next';

const PATTERNS: [RegExp, string, string[]][] = [
  [/^(.+) resolves to (.+), a non-public address/, 'non_public', ['host', 'ip']],
  [/^(.+) is a metadata, multicast or unspecified address/, 'metadata', ['ip']],
  [/^only http:\/\/ and https:\/\/ URLs are allowed/, 'scheme', []],
  [/^the URL has no host/, 'no_host', []],
  [/^credentials in the URL are not allowed/, 'credentials', []],
  [/^the host '?(.+?)'? cannot be resolved/, 'unresolved', ['host']],
  [/^must be a URL of at most (\d+) characters/, 'too_long', ['max']],
  [/^not a valid URL/, 'invalid', []],
];

export function urlReason(message: string, t: TFunction): string {
  for (const [pattern, key, names] of PATTERNS) {
    const match = pattern.exec(message);
    if (match) {
      const values = Object.fromEntries(names.map((name, index) => [name, match[index + 1]]));
      return t(`integrations.url_errors.${key}`, values);
    }
  }
  return t('integrations.url_errors.other', { detail: message });
}

/** Marshmallow's usual messages for the other fields. */
export function fieldReason(message: string, t: TFunction): string {
  if (/required field|Missing data/i.test(message)) return t('validation.required');
  if (/Shorter than minimum length 1/.test(message)) return t('validation.required');
  if (/Longer than maximum length (\d+)/.test(message)) {
    return t('integrations.too_long', { max: /(\d+)/.exec(message)?.[1] });
  }
  if (/Must be one of/.test(message)) return t('integrations.bad_event');
  return t('integrations.url_errors.other', { detail: message });
}
