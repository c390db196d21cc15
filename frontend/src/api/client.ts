/**
 * The one fetch client of the web app.
 *
 * Every call carries the bearer token and an `X-Request-ID`; any non-2xx answer
 * becomes an `ApiError` (the envelope's code / message / details). A 401 first
 * asks the auth layer to renew the session once and retries; if that fails the
 * auth layer sends the user through the login and back to the page they were on.
 * A 503 raises the "service indisponible" banner (see `serviceStatus`).
 */
import type { ErrorEnvelope } from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly requestId: string | null;

  constructor(
    status: number,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
    requestId: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }

  /** `details` of a 400 as field → messages. */
  fieldErrors(): Record<string, string[]> {
    if (this.code !== 'validation_error') return {};
    const out: Record<string, string[]> = {};
    for (const [field, messages] of Object.entries(this.details)) {
      out[field] = flattenMessages(messages);
    }
    return out;
  }
}

function flattenMessages(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(flattenMessages);
  if (value && typeof value === 'object') return Object.values(value).flatMap(flattenMessages);
  return value == null ? [] : [String(value)];
}

/** What the auth layer gives the client (set once by `AuthProvider`). */
export interface AuthHooks {
  /** The current access token, or null when signed out. */
  getToken: () => string | null;
  /** Called on a 401: renew and resolve true (the call is retried once), or redirect to login. */
  onUnauthorized: () => Promise<boolean>;
}

let hooks: AuthHooks = { getToken: () => null, onUnauthorized: async () => false };

export function configureApiClient(next: AuthHooks): void {
  hooks = next;
}

/** Whether a backing service answered 503 recently (the banner listens to this). */
type Listener = () => void;
let unavailable = false;
const listeners = new Set<Listener>();
export const serviceStatus = {
  get unavailable(): boolean {
    return unavailable;
  },
  set(value: boolean): void {
    if (value === unavailable) return;
    unavailable = value;
    listeners.forEach((listener) => listener());
  },
  subscribe(listener: Listener): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

let apiBase = '/api/v1';
export function setApiBase(base: string): void {
  apiBase = base.replace(/\/$/, '');
}

export type QueryValue = string | number | boolean | null | undefined | Array<string | number>;

/** `?a=1&tag=x&tag=y`: empty values left out, arrays repeated. */
export function buildQuery(query?: Record<string, QueryValue>): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) value.forEach((item) => params.append(key, String(item)));
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

export function apiUrl(path: string, query?: Record<string, QueryValue>): string {
  return `${apiBase}${path}${buildQuery(query)}`;
}

export function newRequestId(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) return crypto.randomUUID();
  return `${Date.now().toString(16)}-${Math.random().toString(16).slice(2)}`;
}

export interface RequestOptions {
  method?: string;
  query?: Record<string, QueryValue>;
  /** A JSON body. */
  json?: unknown;
  /** Any other body (FormData, Blob). */
  body?: BodyInit;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

async function toError(response: Response): Promise<ApiError> {
  const requestId = response.headers.get('X-Request-ID');
  let envelope: Partial<ErrorEnvelope> | null = null;
  try {
    envelope = (await response.json()) as Partial<ErrorEnvelope>;
  } catch {
    envelope = null;
  }
  const error = envelope?.error;
  return new ApiError(
    response.status,
    error?.code ?? `http_${response.status}`,
    error?.message ?? response.statusText,
    (error?.details as Record<string, unknown>) ?? {},
    requestId,
  );
}

function networkError(): ApiError {
  return new ApiError(0, 'network_error', 'network error');
}

/** Handle the status side effects shared by fetch and upload answers. */
function noteStatus(status: number): void {
  if (status === 503) serviceStatus.set(true);
  else if (status > 0 && status < 500) serviceStatus.set(false);
}

/** A raw `Response` (2xx only); used for downloads. */
export async function apiRequest(path: string, options: RequestOptions = {}): Promise<Response> {
  const send = async (): Promise<Response> => {
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'X-Request-ID': newRequestId(),
      ...options.headers,
    };
    const token = hooks.getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    let body = options.body;
    if (options.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    try {
      return await fetch(apiUrl(path, options.query), {
        method: options.method ?? 'GET',
        headers,
        body,
        signal: options.signal,
      });
    } catch (error) {
      if ((error as Error)?.name === 'AbortError') throw error;
      throw networkError();
    }
  };
  let response = await send();
  if (response.status === 401 && (await hooks.onUnauthorized())) response = await send();
  noteStatus(response.status);
  if (!response.ok) throw await toError(response);
  return response;
}

/** A JSON call: the decoded body, `undefined` for 204. */
export async function apiFetch<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await apiRequest(path, options);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export interface UploadOptions {
  method?: string;
  /** Fraction sent, 0..1. */
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
}

/**
 * A multipart upload with progress (XMLHttpRequest: fetch has no upload progress).
 * Same token, request id, 401 and error handling as `apiFetch`.
 */
export async function apiUpload<T>(
  path: string,
  form: FormData,
  options: UploadOptions = {},
): Promise<T> {
  const send = () =>
    new Promise<{ status: number; text: string; requestId: string | null }>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(options.method ?? 'POST', apiUrl(path));
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.setRequestHeader('X-Request-ID', newRequestId());
      const token = hooks.getToken();
      if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) options.onProgress?.(event.loaded / event.total);
      };
      xhr.onload = () =>
        resolve({
          status: xhr.status,
          text: xhr.responseText,
          requestId: xhr.getResponseHeader('X-Request-ID'),
        });
      xhr.onerror = () => reject(networkError());
      xhr.onabort = () => reject(new DOMException('aborted', 'AbortError'));
      options.signal?.addEventListener('abort', () => xhr.abort());
      xhr.send(form);
    });
  let answer = await send();
  if (answer.status === 401 && (await hooks.onUnauthorized())) answer = await send();
  noteStatus(answer.status);
  if (answer.status < 200 || answer.status >= 300) {
    throw await toError(
      new Response(answer.text || null, {
        status: answer.status,
        headers: answer.requestId ? { 'X-Request-ID': answer.requestId } : {},
      }),
    );
  }
  options.onProgress?.(1);
  return (answer.text ? JSON.parse(answer.text) : undefined) as T;
}

/** Save a downloaded response under the server's file name (Content-Disposition). */
export async function downloadFile(path: string, fallbackName: string, query?: Record<string, QueryValue>) {
  const response = await apiRequest(path, { query, headers: { Accept: '*/*' } });
  const disposition = response.headers.get('Content-Disposition') ?? '';
  const match = /filename\*=UTF-8''([^;]+)|filename="?([^";]+)"?/i.exec(disposition);
  const name = match ? decodeURIComponent(match[1] ?? match[2]) : fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
