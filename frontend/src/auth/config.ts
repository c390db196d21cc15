/** The runtime configuration served by the gateway at `/app-config.json` (contract C1). */
export interface AppConfig {
  issuer: string;
  client_id: string;
  api_base: string;
}

export async function loadAppConfig(): Promise<AppConfig> {
  const response = await fetch('/app-config.json', { headers: { Accept: 'application/json' } });
  if (!response.ok) throw new Error(`app-config.json: HTTP ${response.status}`);
  const config = (await response.json()) as Partial<AppConfig>;
  if (!config.issuer || !config.client_id) throw new Error('app-config.json: issuer/client_id missing');
  return { issuer: config.issuer, client_id: config.client_id, api_base: config.api_base ?? '/api/v1' };
}
