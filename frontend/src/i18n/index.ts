/**
 * i18next set-up: French is the default and the fallback; English is the toggle.
 * Only the chosen language is remembered (localStorage key `ml-platform.lang`).
 * The English texts are a chunk of their own, loaded when English is chosen: the
 * first screen of a French user does not download them.
 */
import i18n from 'i18next';
import { initReactI18next } from 'react-i18next';
import dayjs from 'dayjs';
import 'dayjs/locale/fr';
import 'dayjs/locale/en';
import fr from './fr.json';

export const LANGUAGES = ['fr', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];
export const LANGUAGE_STORAGE_KEY = 'ml-platform.lang';

export function storedLanguage(): Language {
  try {
    const value = window.localStorage.getItem(LANGUAGE_STORAGE_KEY);
    return value === 'en' ? 'en' : 'fr';
  } catch {
    return 'fr';
  }
}

/** The language's texts (French is always there), then the switch to it. */
async function switchTo(language: Language): Promise<void> {
  if (language === 'en' && !i18n.hasResourceBundle('en', 'translation')) {
    const texts = (await import('./en.json')).default;
    i18n.addResourceBundle('en', 'translation', texts);
  }
  await i18n.changeLanguage(language);
}

export function setLanguage(language: Language): Promise<void> {
  try {
    window.localStorage.setItem(LANGUAGE_STORAGE_KEY, language);
  } catch {
    // private mode: the choice lasts for this page only
  }
  return switchTo(language);
}

i18n.on('languageChanged', (language) => {
  dayjs.locale(language);
  document.documentElement.lang = language;
});

void i18n.use(initReactI18next).init({
  resources: { fr: { translation: fr } },
  lng: 'fr',
  fallbackLng: 'fr',
  interpolation: { escapeValue: false },
  returnNull: false,
});
dayjs.locale(i18n.language);
document.documentElement.lang = i18n.language;

/** Resolved once the remembered language's texts are loaded (render after it). */
export const i18nReady: Promise<void> = switchTo(storedLanguage()).catch(() => undefined);

export default i18n;
