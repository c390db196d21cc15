/** Start-up: runtime config → session (login redirect or callback) → the app. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import i18n, { i18nReady } from './i18n';
import { configureApiClient, setApiBase } from './api/client';
import { loadAppConfig } from './auth/config';
import { Session } from './auth/session';
import { App } from './App';

async function bootstrap(root: HTMLElement): Promise<void> {
  const config = await loadAppConfig();
  setApiBase(config.api_base);
  const session = new Session(config);
  configureApiClient({
    getToken: () => session.getToken(),
    onUnauthorized: () => session.onUnauthorized(),
  });
  if (!(await session.start())) return; // on the way to the login page
  await i18nReady;
  createRoot(root).render(
    <StrictMode>
      <App session={session} />
    </StrictMode>,
  );
}

const root = document.getElementById('root')!;
bootstrap(root).catch(() => {
  // No config or no issuer: say so in plain text (no React tree yet).
  root.textContent = i18n.t('errors.startup_failed');
  root.setAttribute('role', 'alert');
});
