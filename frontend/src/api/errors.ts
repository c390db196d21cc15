/** A French (or English) message for any error, from its API code. */
import type { TFunction } from 'i18next';
import { ApiError } from './client';

const KNOWN = new Set([
  'network_error',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'validation_error',
  'payload_too_large',
  'unsupported_media_type',
  'invalid_model_file',
  'invalid_input_data',
  'rate_limited',
  'service_unavailable',
  'internal_error',
]);

export function errorMessage(error: unknown, t: TFunction): string {
  if (error instanceof ApiError) {
    const code = KNOWN.has(error.code) ? error.code : 'unknown';
    return t(`errors.${code}`, { requestId: error.requestId ?? '-' });
  }
  return t('errors.unknown', { requestId: '-' });
}
