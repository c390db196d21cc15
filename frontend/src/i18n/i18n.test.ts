import { describe, expect, it } from 'vitest';
import fr from './fr.json';
import en from './en.json';
import { describeCron } from './cron';
import i18n, { LANGUAGE_STORAGE_KEY, setLanguage } from '.';

function keys(value: unknown, prefix = ''): string[] {
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, child]) => keys(child, prefix ? `${prefix}.${key}` : key));
  }
  return [prefix];
}

describe('i18n', () => {
  it('has the same keys in French and English', () => {
    expect(keys(en).sort()).toEqual(keys(fr).sort());
  });
  it("uses the guide's labels in French", () => {
    expect(fr.menu).toMatchObject({ dashboard: 'Tableau de bord', models: 'Modèles', deployments: 'Déploiements', executions: 'Exécutions' });
    expect(fr.models.add).toBe('Ajouter un modèle');
    expect(fr.models.form.create).toBe('Créer le modèle');
    expect(fr.auth.logout).toBe('Se déconnecter');
  });
  it('remembers only the language in localStorage', async () => {
    await setLanguage('en');
    expect(window.localStorage.getItem(LANGUAGE_STORAGE_KEY)).toBe('en');
    expect(i18n.t('models.add')).toBe('Add a model');
    await setLanguage('fr');
    expect(i18n.t('models.add')).toBe('Ajouter un modèle');
    expect(Object.keys(window.localStorage)).toEqual([LANGUAGE_STORAGE_KEY]);
  });
  it('describes a cron in French words', () => {
    expect(describeCron('30 2 * * 1', 'fr')).toMatch(/02:30.*lundi/);
    expect(describeCron('not a cron', 'fr')).toBeNull();
  });
});
