/** A cron expression in words, in the UI language (cronstrue with its French locale). */
import cronstrue from 'cronstrue';
import 'cronstrue/locales/fr';

export function describeCron(expression: string, language: string): string | null {
  try {
    return cronstrue.toString(expression, {
      locale: language.startsWith('en') ? 'en' : 'fr',
      use24HourTimeFormat: true,
      throwExceptionOnParseError: true,
    });
  } catch {
    return null;
  }
}
